using System.Diagnostics;
using System.Globalization;
using System.Runtime;
using Invalidator.Benchmarks.Drain;

namespace Invalidator.Benchmarks;

/// <summary>
/// <c>[decode|redis|e2e|race|audit|all] [--quick]</c>: runs the chosen benchmarks and prints one plain table.
/// Figures are printed, never asserted: speed depends on the machine.
/// </summary>
internal static class BenchmarkCommand
{
    private const string Usage = "usage: dotnet run -c Release --project bench/Invalidator.Benchmarks -- [decode|redis|e2e|race|audit|all|perf] [--quick] " +
        "[--only micro,drain,latency,memory,direct,first] [--replica] [--probe] [--offered N] [--race set-after-delete,failover,replica] [--results DIR] [--label NAME] [--set Invalidator:Key=value ...]";

    public static async Task<int> RunAsync(string[] args)
    {
        if (args is ["worker-child", var directory])
        {
            // The drain's and the memory benchmark's worker process (see ChildProcesses).
            return await ChildProcesses.RunWorkerChildAsync(directory).ConfigureAwait(false);
        }

        if (args is ["consume-child", var consumeDirectory])
        {
            // The drain's baseline consumers (see ChildProcesses).
            return await ChildProcesses.RunConsumeChildAsync(consumeDirectory).ConfigureAwait(false);
        }

        var quick = false;
        var replica = false;
        var probe = false;
        var offered = 50_000; // issue 20's rate
        var only = new HashSet<string>(PerfSuite.Parts, StringComparer.Ordinal);
        var races = new HashSet<string>(RaceBenchmark.Races, StringComparer.Ordinal);
        string? results = null;
        string? label = null;
        var names = new List<string>();
        var overrides = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        var valid = true;
        for (var i = 0; i < args.Length; i++)
        {
            if (args[i] == "--quick")
            {
                quick = true;
            }
            else if (args[i] == "--replica")
            {
                // perf's direct drain a second time, waiting for a streaming standby (the replica wait's cost).
                replica = true;
            }
            else if (args[i] == "--probe")
            {
                // perf's direct drain with the freshness probe on and off (issue 20: the probe's cost).
                probe = true;
            }
            else if (args[i] == "--offered" && i + 1 < args.Length && int.TryParse(args[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out var rate))
            {
                // With --probe: the rate (changes/s) of the comparison's offered-load runs (default 50,000; 0: none).
                offered = rate;
                i++;
            }
            else if (args[i] == "--set" && i + 1 < args.Length && args[i + 1].IndexOf('=', StringComparison.Ordinal) is var eq and > 0)
            {
                // Worker settings for the end-to-end and race runs, over the benchmark's, e.g. Invalidator:Batching:MaxWait=00:00:00.200.
                overrides[args[i + 1][..eq]] = args[i + 1][(eq + 1)..];
                i++;
            }
            else if (args[i] == "--only" && i + 1 < args.Length && args[i + 1].Split(',') is var parts && parts.All(PerfSuite.Parts.Contains))
            {
                only = new HashSet<string>(parts, StringComparer.Ordinal);
                i++;
            }
            else if (args[i] == "--race" && i + 1 < args.Length && args[i + 1].Split(',') is var chosen && chosen.All(RaceBenchmark.Races.Contains))
            {
                // Which of the race benchmark's races to run (default all).
                races = new HashSet<string>(chosen, StringComparer.Ordinal);
                i++;
            }
            else if (args[i] == "--results" && i + 1 < args.Length)
            {
                results = args[++i];
            }
            else if (args[i] == "--label" && i + 1 < args.Length)
            {
                // Names the run in the results file, e.g. which build it measured ("before", "after").
                label = args[++i];
            }
            else if (args[i] is "decode" or "redis" or "e2e" or "race" or "audit" or "all" or "perf")
            {
                names.Add(args[i]);
            }
            else
            {
                valid = false;
            }
        }

        if (!valid || names.Count > 1)
        {
            await Console.Error.WriteLineAsync(Usage).ConfigureAwait(false);
            return 2;
        }

        var which = names.FirstOrDefault() ?? "all";
        var scale = quick ? Scale.Quick : Scale.Full;
        Console.WriteLine($"Invalidator benchmarks: {which}{(quick ? " (quick)" : "")}; {Environment.ProcessorCount} cores, .NET {Environment.Version}, " +
            $"{(GCSettings.IsServerGC ? "server" : "workstation")} GC{(IsDebugBuild() ? "; WARNING: Debug build, run with -c Release" : "")}");

        var clock = Stopwatch.StartNew();
        if (which == "perf")
        {
            var report = await PerfSuite.RunAsync(scale, only, overrides, replica, probe, offered).ConfigureAwait(false);
            Console.WriteLine();
            report.Table.Print(Console.Out);
            Console.WriteLine($"({clock.Elapsed.TotalSeconds:F1} s in all; written to {report.Write(results ?? PerfReport.DefaultDirectory(), (label is null ? "" : label + "-") + string.Join('-', only.Order(StringComparer.Ordinal)) + (replica ? "-replica" : "") + (probe ? "-probe" : "") + (probe && offered != 50_000 ? $"-offered{offered}" : "") + (quick ? "-quick" : ""))})");
            return 0;
        }

        var table = new ResultTable();
        if (which is "decode" or "all")
        {
            DecodeBenchmark.Run(scale, table);
        }

        if (which is "redis" or "all")
        {
            await RedisBenchmark.RunAsync(scale, table).ConfigureAwait(false);
        }

        if (which is "e2e" or "all")
        {
            await EndToEndBenchmark.RunAsync(scale, table, overrides).ConfigureAwait(false);
        }

        if (which is "race" or "all")
        {
            await RaceBenchmark.RunAsync(scale, table, overrides, races).ConfigureAwait(false);
        }

        if (which is "audit" or "all")
        {
            await AuditBenchmark.RunAsync(scale, table).ConfigureAwait(false);
        }

        Console.WriteLine();
        table.Print(Console.Out);
        Console.WriteLine($"({clock.Elapsed.TotalSeconds:F1} s in all)");
        return 0;
    }

    private static bool IsDebugBuild() =>
        typeof(BenchmarkCommand).Assembly.GetCustomAttributes(false).OfType<DebuggableAttribute>().Any(d => d.IsJITOptimizerDisabled);
}

/// <summary>How much work each benchmark does: full for the README figures, quick for a smoke run in seconds.</summary>
internal sealed record Scale(
    bool IsQuick,
    TimeSpan DecodeWarmup,
    TimeSpan DecodeDuration,
    int RedisKeysPerCase,
    int RedisSequentialKeys,
    int EndToEndRecords)
{
    public static Scale Full { get; } = new(false, TimeSpan.FromSeconds(0.5), TimeSpan.FromSeconds(2), 400_000, 20_000, 120_000);

    public static Scale Quick { get; } = new(true, TimeSpan.FromSeconds(0.1), TimeSpan.FromSeconds(0.3), 40_000, 2_000, 10_000);
}
