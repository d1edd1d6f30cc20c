using System.Runtime.InteropServices;

namespace Invalidator.Benchmarks.Drain;

/// <summary>
/// The calling thread's CPU time (Linux <c>CLOCK_THREAD_CPUTIME_ID</c>): on a shared machine wall time includes the
/// time other processes held the core, CPU time does not, so a per-record cost in CPU time is steadier.
/// </summary>
internal static partial class ThreadCpu
{
    private const int ThreadCpuClock = 3; // CLOCK_THREAD_CPUTIME_ID

    public static bool IsAvailable => OperatingSystem.IsLinux();

    public static long Nanoseconds()
    {
        if (!IsAvailable || clock_gettime(ThreadCpuClock, out var time) != 0)
        {
            return 0;
        }

        return time.Seconds * 1_000_000_000L + time.Nanoseconds;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int clock_gettime(int clock, out TimeSpec time);
}
