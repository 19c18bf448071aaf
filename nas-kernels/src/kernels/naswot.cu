// NASWOT's Hamming step on the GPU: for every image pair (i, j > i), add the popcount of the XOR
// of their bit-packed codes to hamming[i * batch + j]. Compiled at run time by NVRTC.
//
// Block i handles row i; its threads stride over j. The row's words are read by every thread of
// the block (a broadcast from cache); words = 64 units each.
extern "C" __global__ void xor_popcount_pairs(
    const unsigned long long* codes,   // [batch][words]
    unsigned long long* hamming,       // [batch][batch], upper triangle used
    int batch,
    int words)
{
    int i = blockIdx.x;
    if (i >= batch) return;
    const unsigned long long* a = codes + (size_t)i * words;
    for (int j = i + 1 + threadIdx.x; j < batch; j += blockDim.x) {
        const unsigned long long* b = codes + (size_t)j * words;
        unsigned long long count = 0;
        for (int w = 0; w < words; ++w) {
            count += __popcll(a[w] ^ b[w]);
        }
        hamming[(size_t)i * batch + j] += count;
    }
}
