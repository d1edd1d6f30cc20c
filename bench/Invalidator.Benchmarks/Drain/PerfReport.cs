using System.Diagnostics;
using System.Globalization;
using System.Runtime;
using System.Runtime.InteropServices;
using System.Text;

namespace Invalidator.Benchmarks.Drain;

/// <summary>
/// The figures of one <c>perf</c> run, printed as they come and written at the end to <c>bench/results/</c> as a
/// Markdown table with the machine's description. Every row notes the load average when it was measured: the
/// machine is shared, so a figure means little without it.
/// </summary>
internal sealed class PerfReport
{
    private readonly List<string[]> _rows = [];
    private readonly string _startLoad = LoadAverage();
    private readonly DateTimeOffset _started = DateTimeOffset.UtcNow;
    private readonly List<string> _machine = [.. Machine()]; // at the start: the commit that was built, not what changed since

    public ResultTable Table { get; } = new();

    public void Add(string part, string @case, double value, string unit, string detail = "")
    {
        var load = LoadAverage();
        _rows.Add([part, @case, $"{ResultTable.Format(value)} {unit}", detail, load]);
        Table.Add(part, @case, value, unit, $"{detail} [load {load}]");
    }

    public void Note(string part, string @case, string text)
    {
        var load = LoadAverage();
        _rows.Add([part, @case, "", text, load]);
        Console.WriteLine($"  {part} | {@case} | {text} [load {load}]");
    }

    /// <summary>The 1, 5 and 15 minute load averages, as <c>uptime</c> prints them.</summary>
    public static string LoadAverage()
    {
        try
        {
            var fields = File.ReadAllText("/proc/loadavg").Split(' ');
            return $"{fields[0]} {fields[1]} {fields[2]}";
        }
        catch (IOException)
        {
            return "?";
        }
    }

    public string Write(string directory, string which)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, $"{_started:yyyy-MM-dd-HHmm}-{which}.md");
        var text = new StringBuilder();
        text.AppendLine(CultureInfo.InvariantCulture, $"# Invalidator perf run: {which}, {_started:yyyy-MM-dd HH:mm} UTC");
        text.AppendLine();
        foreach (var line in _machine)
        {
            text.AppendLine(CultureInfo.InvariantCulture, $"- {line}");
        }

        text.AppendLine(CultureInfo.InvariantCulture, $"- load average (1, 5, 15 min): {_startLoad} at the start, {LoadAverage()} at the end ({(DateTimeOffset.UtcNow - _started).TotalMinutes:F1} min)");
        text.AppendLine();
        text.AppendLine("| part | case | figure | detail | load average |");
        text.AppendLine("|---|---|---|---|---|");
        foreach (var row in _rows)
        {
            text.AppendLine("| " + string.Join(" | ", row.Select(c => c.Replace("|", "\\|", StringComparison.Ordinal))) + " |");
        }

        File.WriteAllText(path, text.ToString());
        return path;
    }

    /// <summary>The repository's bench/results, found upwards from the working directory and the binary.</summary>
    public static string DefaultDirectory()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "Invalidator.sln")))
                {
                    return Path.Combine(dir.FullName, "bench", "results");
                }
            }
        }

        return Path.Combine(Directory.GetCurrentDirectory(), "bench-results");
    }

    private static IEnumerable<string> Machine()
    {
        var cpu = File.Exists("/proc/cpuinfo")
            ? File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal))?.Split(':', 2)[1].Trim()
            : null;
        var memory = File.Exists("/proc/meminfo")
            ? File.ReadLines("/proc/meminfo").FirstOrDefault(l => l.StartsWith("MemTotal", StringComparison.Ordinal))?.Split(':', 2)[1].Trim()
            : null;
        var os = File.Exists("/etc/os-release")
            ? File.ReadLines("/etc/os-release").FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal))?.Split('=', 2)[1].Trim('"')
            : RuntimeInformation.OSDescription;
        yield return $"machine: {Environment.ProcessorCount} cores ({cpu ?? "unknown CPU"}), {memory ?? "unknown"} memory, {os}, kernel {Environment.OSVersion.Version}";
        yield return $".NET {Environment.Version}, {(GCSettings.IsServerGC ? "server" : "workstation")} GC, {(GCSettings.LatencyMode == GCLatencyMode.Batch ? "non-concurrent" : "concurrent")}";
        yield return $"redis-server {Run("redis-server", "--version")?.Split(' ').FirstOrDefault(p => p.StartsWith("v=", StringComparison.Ordinal))?[2..] ?? "?"}; " +
            $"commit {Run("git", "rev-parse --short HEAD") ?? "?"}{(string.IsNullOrEmpty(Run("git", "status --porcelain --untracked-files=no")) ? "" : " (with uncommitted changes)")}";
        yield return "the broker (librdkafka's mock cluster, in the benchmark's process), both redis-servers and the worker share these cores, " +
            "and other sessions were building and testing on the same machine: read ratios of rows measured in the same run";
    }

    private static string? Run(string program, string arguments)
    {
        try
        {
            using var process = Process.Start(new ProcessStartInfo(program, arguments) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false });
            if (process is null)
            {
                return null;
            }

            var output = process.StandardOutput.ReadToEnd().Trim();
            process.WaitForExit();
            return process.ExitCode == 0 ? output : null;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return null;
        }
    }
}
