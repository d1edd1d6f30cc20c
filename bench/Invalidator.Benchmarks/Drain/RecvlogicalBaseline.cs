using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;

namespace Invalidator.Benchmarks.Drain;

/// <summary>
/// The direct drain's baseline (issue 21): <c>pg_recvlogical</c>, from the bench's own Postgres, streams the same
/// publication with the worker's pgoutput options from a slot of its own to <c>/dev/null</c> and exits at the backlog's
/// end. What a client that only receives the stream (no decoding, no Redis) takes for the same WAL.
/// </summary>
internal static partial class RecvlogicalBaseline
{
    /// <summary>
    /// Runs it until <paramref name="endLsn"/> (<c>--endpos</c>, <c>--no-loop</c>; killed after 3 minutes). Its clocks:
    /// process start, its first write to the output (its <c>/proc/PID/io</c> <c>wchar</c> polled every millisecond: it
    /// writes nothing else, and libpq's socket I/O is send/recv, not counted there) and its exit. Its CPU is this
    /// process's <c>RUSAGE_CHILDREN</c> across the run: no other child of this process exits meanwhile.
    /// </summary>
    public static async Task<RecvlogicalRun> RunAsync(PostgresServerProcess postgres, string database, string slot, string publication, string endLsn)
    {
        string[] arguments =
        [
            "-h", "127.0.0.1", "-p", postgres.Port.ToString(CultureInfo.InvariantCulture), "-U", "postgres", "-d", database,
            "-S", slot, "--start", "-f", "/dev/null", "--no-loop", "-E", endLsn,
            // The worker's StartReplication options (ReplicationSession: protocol 1, text values, logical messages).
            "-o", "proto_version=1", "-o", $"publication_names={publication}", "-o", "binary=false", "-o", "messages=true",
        ];
        var program = postgres.Binary("pg_recvlogical");
        var start = new ProcessStartInfo(program) { UseShellExecute = false, RedirectStandardError = true };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var cpuBefore = ChildrenCpuSeconds();
        var startedAt = Stopwatch.GetTimestamp();
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {program}");
        var error = process.StandardError.ReadToEndAsync();
        long? firstByteAt = null;
        while (!process.HasExited)
        {
            if (WrittenBytes(process.Id) > 0)
            {
                firstByteAt = Stopwatch.GetTimestamp();
                break;
            }

            await Task.Delay(1).ConfigureAwait(false);
        }

        using (var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(3)))
        {
            try
            {
                await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                process.Kill();
                await process.WaitForExitAsync().ConfigureAwait(false);
                throw new InvalidOperationException($"pg_recvlogical did not reach {endLsn} within 3 minutes: {await error.ConfigureAwait(false)}");
            }
        }

        var exitedAt = Stopwatch.GetTimestamp();
        var cpu = ChildrenCpuSeconds() - cpuBefore;
        if (process.ExitCode != 0 || firstByteAt is null)
        {
            throw new InvalidOperationException($"pg_recvlogical exited with {process.ExitCode}{(firstByteAt is null ? " before writing anything" : "")}: {await error.ConfigureAwait(false)}");
        }

        return new(
            Stopwatch.GetElapsedTime(firstByteAt.Value, exitedAt).TotalSeconds,
            Stopwatch.GetElapsedTime(startedAt, exitedAt).TotalSeconds,
            Stopwatch.GetElapsedTime(startedAt, firstByteAt.Value).TotalSeconds,
            cpu,
            $"{program} {string.Join(' ', arguments)}");
    }

    /// <summary>Bytes the process passed to write(2) so far (<c>wchar</c>); 0 while it is unreadable (not started yet, or gone).</summary>
    private static long WrittenBytes(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/io"))
            {
                if (line.StartsWith("wchar:", StringComparison.Ordinal))
                {
                    return long.Parse(line.AsSpan(6).Trim(), CultureInfo.InvariantCulture);
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }

        return 0;
    }

    /// <summary>User + system CPU seconds of this process's children that have exited and been waited for (getrusage RUSAGE_CHILDREN).</summary>
    private static double ChildrenCpuSeconds()
    {
        if (!OperatingSystem.IsLinux() || getrusage(RusageChildren, out var usage) != 0)
        {
            return double.NaN;
        }

        return usage.UserSeconds + usage.UserMicroseconds / 1e6 + usage.SystemSeconds + usage.SystemMicroseconds / 1e6;
    }

    private const int RusageChildren = -1;

    /// <summary>struct rusage on 64-bit Linux: two timevals, then 14 longs this class does not read.</summary>
    [StructLayout(LayoutKind.Sequential, Size = 144)]
    private struct Rusage
    {
        public long UserSeconds;
        public long UserMicroseconds;
        public long SystemSeconds;
        public long SystemMicroseconds;
    }

    [LibraryImport("libc", EntryPoint = "getrusage")]
    private static partial int getrusage(int who, out Rusage usage);
}

/// <summary>
/// One pg_recvlogical run: seconds from its first write to its exit, from its start to its exit, from its start to its
/// first write (connection, slot start, the first transaction's decoding), its CPU seconds, and its command line.
/// </summary>
internal readonly record struct RecvlogicalRun(double FromFirstByte, double FromStart, double ToFirstByte, double CpuSeconds, string CommandLine);
