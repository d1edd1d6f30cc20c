using System.Diagnostics;
using System.Globalization;

namespace Invalidator.Benchmarks.Drain;

/// <summary>
/// CPU time spent during one phase: by this process (the worker host or a baseline consumer, and the in-process mock
/// broker) and by the redis-servers. On a machine other sessions share, wall-clock rates swing with their load;
/// CPU time per record moves far less, so the drains print both.
/// </summary>
internal sealed class CpuMeter
{
    private readonly int[] _servers;
    private readonly TimeSpan _process;
    private readonly double _serverSeconds;

    private CpuMeter(int[] servers)
    {
        _servers = servers;
        _process = Process.GetCurrentProcess().TotalProcessorTime;
        _serverSeconds = servers.Sum(ProcessSeconds);
    }

    public static CpuMeter Start(IEnumerable<RedisServerProcess> servers) => new([.. servers.Select(s => s.ProcessId)]);

    /// <summary>Microseconds of CPU per record since the start: this process, and the redis-servers together.</summary>
    public (double Process, double Redis) PerRecord(long records)
    {
        var process = (Process.GetCurrentProcess().TotalProcessorTime - _process).TotalSeconds;
        var servers = _servers.Sum(ProcessSeconds) - _serverSeconds;
        return (process * 1e6 / Math.Max(1, records), servers * 1e6 / Math.Max(1, records));
    }

    public string Describe(long records)
    {
        var (process, redis) = PerRecord(records);
        return $"CPU {process:F1} µs/record in the benchmark process (incl. the mock broker), {redis:F1} µs/record in the redis-servers";
    }

    /// <summary>utime + stime of a process from /proc/PID/stat, in seconds.</summary>
    private static double ProcessSeconds(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            // After "pid (comm) ": state is field 3, utime 14 and stime 15 (1-based), so indexes 11 and 12 here.
            return (long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture)) / 100.0;
        }
        catch (IOException)
        {
            return 0;
        }
    }
}
