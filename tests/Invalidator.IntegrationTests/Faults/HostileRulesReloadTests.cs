using System.Diagnostics;
using System.Globalization;
using System.Text;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Worker;
using Xunit.Abstractions;

namespace Invalidator.IntegrationTests.Faults;

/// <summary>
/// The worker process (the built binary) reloads hostile rules files on SIGHUP: each is refused with its reason, the
/// process survives, the last good rules keep invalidating, and its peak memory stays bounded. Before the limits a
/// nesting bomb killed the worker (stack overflow), aliases took 3.4 GB, /dev/zero 2.9 GB and a FIFO hung the reload.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class HostileRulesReloadTests(ServersFixture servers, ITestOutputHelper output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    /// <summary>What a refused reload may add to the peak resident set: far below the gigabytes each took before.</summary>
    private const long MaxPeakGrowthBytes = 150L * 1024 * 1024;

    [Fact]
    public async Task Hostile_files_are_refused_on_reload_and_the_worker_keeps_invalidating_in_bounded_memory()
    {
        await using var harness = new WorkerHarness(servers, FaultSettings.Rules, "hostile-reload");
        await harness.CreateTopicAsync(partitions: 1);
        var keys = await RegionKeys.ConnectAsync(servers, harness.KeyPrefix);
        await keys.SetAsync(["customer:1", "customer:2"]);
        var directory = Directory.CreateTempSubdirectory("invalidator-hostile-").FullName;
        var settings = harness.ProcessSettings();
        settings["Invalidator:Rules:Watch"] = "false"; // one reload per signal
        try
        {
            using var worker = WorkerProcess.Start(directory, settings, FaultSettings.Rules);
            await Eventually.AssertAsync(() => worker.HasExited || worker.Output.Contains("SIGHUP reloads it", StringComparison.Ordinal), Deadline, "the worker starts");
            await harness.ProduceAsync(FaultSettings.Customer(1, "u"));
            await Eventually.AssertAsync(() => keys.NoneExistAsync(["customer:1"]), Deadline, "the worker invalidates before the reloads");

            var rules = Path.Combine(directory, "rules.yaml");
            var peakReset = ResetPeak(worker.Id);
            var before = Memory(worker.Id, "VmRSS");
            var reloads = 0;
            foreach (var (name, write, reason) in HostileFiles())
            {
                File.Delete(rules);
                await write(rules);
                var clock = Stopwatch.StartNew();
                await SignalAsync(worker.Id, "HUP");
                reloads++;
                await Eventually.AssertAsync(() => worker.HasExited || Count(worker.Output, "Refused the changed rules file") >= reloads, Deadline, $"the {name} is refused");
                Assert.False(worker.HasExited, $"the {name} ended the worker:\n{Tail(worker.Output)}");
                Assert.Contains(reason, worker.Output, StringComparison.Ordinal);
                output.WriteLine($"{name}: refused in {clock.ElapsedMilliseconds} ms, RSS {Memory(worker.Id, "VmRSS") / 1024 / 1024} MiB");
            }

            var peak = Memory(worker.Id, "VmHWM");
            var after = Memory(worker.Id, "VmRSS");
            output.WriteLine($"RSS before the reloads {before / 1024 / 1024} MiB, peak during them {peak / 1024 / 1024} MiB (peak reset first: {peakReset}), after {after / 1024 / 1024} MiB");
            Assert.True(peak - before < MaxPeakGrowthBytes, $"peak {peak} bytes against {before} before the reloads");

            // The last good rules are live: the next change is invalidated as before.
            await harness.ProduceAsync(FaultSettings.Customer(2, "u"));
            await Eventually.AssertAsync(() => keys.NoneExistAsync(["customer:2"]), Deadline, "the last good rules keep invalidating");
            Assert.Equal(0, await worker.StopAsync(TimeSpan.FromSeconds(30)));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    private static IEnumerable<(string Name, Func<string, Task> Write, string Reason)> HostileFiles()
    {
        yield return ("nesting bomb of 100,000 '['", path => File.WriteAllTextAsync(path, "tables:\n  public.customers:\n    keys: " + new string('[', 100_000) + "\n"),
            "nests deeper than 32 levels");
        yield return ("2,000 aliases of a 100 KB scalar", path => File.WriteAllTextAsync(path, $"x: &big \"{new string('k', 100_000)}\"\ntables:\n  public.customers:\n    keys: [{string.Join(", ", Enumerable.Repeat("*big", 2000))}]\n"),
            "aliases expand to more than 1048576 bytes");
        yield return ("link to /dev/zero", path =>
        {
            File.CreateSymbolicLink(path, "/dev/zero");
            return Task.CompletedTask;
        }, "is a character device");
        yield return ("FIFO", async path =>
        {
            using var mkfifo = Process.Start("mkfifo", path);
            await mkfifo.WaitForExitAsync();
        }, "is a FIFO (named pipe)");
        yield return ("10 MB file", path =>
        {
            var text = new StringBuilder(FaultSettings.Rules + "\n");
            while (text.Length < 10_000_000)
            {
                text.Append("# ").Append('x', 97).Append('\n');
            }

            return File.WriteAllTextAsync(path, text.ToString());
        }, "larger than 1048576 bytes");
        yield return ("file with 100,000 errors", path => File.WriteAllTextAsync(path, $"tables:\n  public.customers:\n    keys: [\"c:{{id}}\"]\n    ops: [{string.Join(",", Enumerable.Repeat("x", 100_000))}]\n"),
            "... and 99950 more error(s)");
        yield return ("file that is not UTF-8", path => File.WriteAllBytesAsync(path, [.. Encoding.UTF8.GetBytes("tables:\n  public.customers:\n    keys: [\"caf"), 0xE9, .. Encoding.UTF8.GetBytes("\"]\n")]),
            "is not valid UTF-8");
    }

    /// <summary>Resets the process's peak resident set (Linux: 5 into /proc/PID/clear_refs), so VmHWM covers the reloads only.</summary>
    private static bool ResetPeak(int pid)
    {
        try
        {
            File.WriteAllText($"/proc/{pid}/clear_refs", "5");
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false; // then VmHWM is the peak since start, which only makes the bound stricter
        }
    }

    private static long Memory(int pid, string field)
    {
        var line = File.ReadLines($"/proc/{pid}/status").Single(l => l.StartsWith(field + ":", StringComparison.Ordinal));
        return long.Parse(line[(field.Length + 1)..].Trim().Split(' ')[0], CultureInfo.InvariantCulture) * 1024;
    }

    private static int Count(string text, string fragment)
    {
        var count = 0;
        for (var at = text.IndexOf(fragment, StringComparison.Ordinal); at >= 0; at = text.IndexOf(fragment, at + fragment.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }

    private static string Tail(string text) => text.Length > 4000 ? text[^4000..] : text;

    private static async Task SignalAsync(int pid, string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, pid.ToString(CultureInfo.InvariantCulture)]);
        await kill.WaitForExitAsync();
        Assert.Equal(0, kill.ExitCode);
    }
}
