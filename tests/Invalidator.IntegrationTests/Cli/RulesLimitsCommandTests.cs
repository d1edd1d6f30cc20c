using System.Diagnostics;
using System.Text;
using Invalidator.Core.Rules;

namespace Invalidator.IntegrationTests.Cli;

/// <summary>
/// The rules file's limits as the commands report them: <c>rules check</c> (in process), <c>explain</c>, and the worker's
/// start (the built binary), each with file:line and the limit, exit non-zero, no stack trace, promptly.
/// </summary>
public sealed class RulesLimitsCommandTests : IDisposable
{
    private const string ValidRules = "tables:\n  public.customers:\n    keys: [\"customer:{id}\"]\n";

    private readonly CliFiles _files = new();

    public void Dispose() => _files.Dispose();

    private string WriteBytes(string name, byte[] bytes)
    {
        var path = Path.Combine(_files.Directory, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static async Task<CliResult> CheckAsync(params string[] args)
    {
        var clock = Stopwatch.StartNew();
        var result = await CliFiles.InvokeAsync(["rules", "check", .. args]);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(20), $"rules check took {clock.Elapsed}");
        Assert.DoesNotContain("   at ", result.Output + result.Error, StringComparison.Ordinal);
        return result;
    }

    private static void AssertRefused(CliResult result, string path, string location, string reason)
    {
        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Equal("", result.Output);
        Assert.StartsWith($"{path}:{location}", result.ErrorLines[0], StringComparison.Ordinal);
        Assert.Contains(reason, result.ErrorLines[0], StringComparison.Ordinal);
        Assert.Equal($"1 error(s) in {path}", result.ErrorLines[^1]);
    }

    [Fact]
    public async Task Rules_check_refuses_a_nesting_bomb_with_the_depth_limit()
    {
        var path = _files.Write("nested.yaml", "tables:\n  public.a:\n    keys: " + new string('[', 100_000) + "\n");

        AssertRefused(await CheckAsync(path), path, "3:40: ", $"deeper than {RulesLimits.DefaultMaxDepth} levels");
    }

    [Fact]
    public async Task Rules_check_refuses_2000_aliases_of_a_large_scalar_by_their_expansion()
    {
        var aliases = string.Join(", ", Enumerable.Repeat("*big", 2000));
        var path = _files.Write("aliases.yaml", $"x: &big \"{new string('k', 100_000)}\"\ntables:\n  public.a:\n    keys: [{aliases}]\n");

        AssertRefused(await CheckAsync(path), path, "4:", "aliases expand to more than 1048576 bytes");
    }

    [Fact]
    public async Task Rules_check_refuses_dev_zero_and_a_fifo_without_reading_them()
    {
        var fifo = Path.Combine(_files.Directory, "rules.fifo");
        using (var mkfifo = Process.Start("mkfifo", fifo))
        {
            await mkfifo.WaitForExitAsync();
        }

        AssertRefused(await CheckAsync("/dev/zero"), "/dev/zero", "0:0: ", "is a character device");
        AssertRefused(await CheckAsync(fifo), fifo, "0:0: ", "is a FIFO (named pipe)");
    }

    [Fact]
    public async Task Rules_check_refuses_a_10_MB_file_at_the_limit_and_takes_it_when_max_bytes_is_raised()
    {
        var text = new StringBuilder(ValidRules);
        while (text.Length < 10_000_000)
        {
            text.Append("# ").Append('x', 97).Append('\n');
        }

        var path = _files.Write("big.yaml", text.ToString());

        AssertRefused(await CheckAsync(path), path, $"{3 + ((RulesLimits.DefaultMaxBytes - ValidRules.Length) / 100) + 1}:", "larger than 1048576 bytes, the limit (Invalidator:Rules:MaxBytes)");

        // Control: the same file within a raised limit is a valid rules file.
        var raised = await CheckAsync(path, "--max-bytes", "20000000");
        Assert.True(raised.ExitCode == 0, raised.ToString());
        Assert.StartsWith($"{path}: OK, 1 tables", raised.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Rules_check_shows_the_first_50_of_100000_errors_and_counts_them_all()
    {
        var ops = string.Join(",", Enumerable.Repeat("x", 100_000));
        var path = _files.Write("errors.yaml", $"tables:\n  public.a:\n    keys: [\"a:{{id}}\"]\n    ops: [{ops}]\n");

        var result = await CheckAsync(path);

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Equal(51, result.ErrorLines.Count);
        Assert.All(result.ErrorLines.Take(50), line => Assert.StartsWith($"{path}:4:", line, StringComparison.Ordinal));
        Assert.Equal($"100000 error(s) in {path} (only the first 50 are shown)", result.ErrorLines[50]);
        Assert.True(result.Error.Length < 64 * 1024, $"{result.Error.Length} chars on stderr");
    }

    [Fact]
    public async Task Rules_check_and_explain_report_bytes_that_are_not_UTF_8_with_line_and_column()
    {
        var path = WriteBytes("latin1.yaml", [.. Encoding.UTF8.GetBytes("tables:\n  public.customers:\n    keys: [\"caf"), 0xE9, .. Encoding.UTF8.GetBytes(":{id}\"]\n")]);

        AssertRefused(await CheckAsync(path), path, "3:16: ", "not valid UTF-8: byte 0xE9");

        var record = _files.Write("record.json", """{"topic": "dbserver1.public.customers", "key": null, "value": {"op": "c", "after": {"id": 1}, "source": {"schema": "public", "table": "customers"}}}""");
        var explain = await CliFiles.InvokeAsync("explain", "--rules", path, "--record", record);
        Assert.True(explain.ExitCode == 2, explain.ToString());
        Assert.StartsWith($"{path}:3:16: the rules file is not valid UTF-8", explain.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", explain.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_worker_refuses_to_start_on_a_nesting_bomb_instead_of_crashing()
    {
        var bomb = _files.Write("nested.yaml", "tables:\n  public.a:\n    keys: " + new string('[', 100_000) + "\n");
        WriteSettings("nested.yaml");

        var result = await _files.RunBinaryAsync("run");

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Equal("Invalid rules file:", result.ErrorLines[0]);
        Assert.StartsWith($"{bomb}:3:40: the YAML nests deeper than 32 levels", result.ErrorLines[1], StringComparison.Ordinal);
        Assert.DoesNotContain("Stack overflow", result.Output + result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_worker_reads_its_rules_within_Invalidator_Rules_MaxBytes()
    {
        var path = _files.Write("rules.yaml", ValidRules + "# " + new string('x', 2000) + "\n");
        WriteSettings("rules.yaml", ", \"MaxBytes\": 1024");

        var result = await _files.RunBinaryAsync("run");

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.StartsWith($"{path}:4:", result.ErrorLines[1], StringComparison.Ordinal);
        Assert.Contains("larger than 1024 bytes, the limit (Invalidator:Rules:MaxBytes)", result.ErrorLines[1], StringComparison.Ordinal);
    }

    private void WriteSettings(string rulesPath, string rulesExtra = "") =>
        _files.Write("appsettings.json", """
            {"Invalidator": {
              "Kafka": {"BootstrapServers": "127.0.0.1:1", "Topics": ["dbserver1.public.customers"]},
              "Rules": {"Path": "RULES"EXTRA},
              "Regions": {"east": {"Redis": "127.0.0.1:1"}},
              "Http": {"Urls": "http://127.0.0.1:0", "StatusUrls": "http://127.0.0.1:0"}}}
            """.Replace("RULES", rulesPath, StringComparison.Ordinal).Replace("EXTRA", rulesExtra, StringComparison.Ordinal));
}
