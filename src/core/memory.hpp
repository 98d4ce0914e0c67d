// Process-wide allocator policy for long numeric runs.
//
//   spicenn::keep_freed_memory_for_reuse();   // once, at the start of main()
//
// A training step allocates and frees the same few large buffers every
// batch (the network rebuilt from the model, the gradient tensors: ~0.6 MB
// each for a 784-100 MON). With glibc's defaults such buffers are mapped and
// unmapped, or trimmed off the heap top, every time, and every new page is
// faulted in and zeroed again: 45 % of a MON training step on MNIST sizes
// (bench_mon_software, perf). Raising the mmap and trim thresholds keeps
// freed memory in the heap for the next batch. The cost is that up to
// `trim_threshold` bytes freed at the heap top stay resident. The CLI and
// the benchmarks call it; a library user may call it too (it changes
// glibc's malloc for the whole process; elsewhere it does nothing).
#pragma once

#include <cstddef>

namespace spicenn {

// Returns false where the allocator is not glibc's or refused the values.
bool keep_freed_memory_for_reuse(std::size_t mmap_threshold = std::size_t{32} << 20,
                                 std::size_t trim_threshold = std::size_t{256} << 20);

}  // namespace spicenn
