// Memory read bandwidth, measured the way decode uses memory: every thread
// streams its share of a buffer much larger than the caches.
#pragma once

namespace lowbit {
// Best-of-`reps` read bandwidth in GB/s (1e9 bytes/s) over `mbytes` MiB.
double measure_read_bandwidth(int threads, int mbytes, int reps);
}
