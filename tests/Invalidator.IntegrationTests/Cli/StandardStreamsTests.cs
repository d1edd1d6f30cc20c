using System.Text.Json;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Worker;

namespace Invalidator.IntegrationTests.Cli;

/// <summary>
/// Every log line of every command goes to stderr; stdout holds only a command's output, so it can be piped and
/// parsed. Checked on the built binary, whose console logger is the one that matters.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class StandardStreamsTests : IDisposable
{
    private readonly ServersFixture _servers;
    private readonly CliFiles _files = new();

    public StandardStreamsTests(ServersFixture servers)
    {
        _servers = servers;
        _files.Write("rules.yaml", "tables:\n  public.customers:\n    keys: [\"customer:{id}\"]\n");
    }

    public void Dispose() => _files.Dispose();

    /// <summary>appsettings.json in the binary's working directory: rules.yaml, the region east, and these settings.</summary>
    private void WriteSettings(Dictionary<string, string?> settings)
    {
        settings["Invalidator:Kafka:Topics:0"] = "dbserver1.public.customers";
        settings["Invalidator:Rules:Path"] = "rules.yaml";
        settings["Invalidator:Regions:east:Redis"] = _servers.RedisConnectionString("east");
        ConfigFile.Write(Path.Combine(_files.Directory, "appsettings.json"), settings);
    }

    [Fact]
    public async Task Run_logs_to_stderr_and_prints_nothing_on_stdout()
    {
        WriteSettings(new Dictionary<string, string?>
        {
            ["Invalidator:Kafka:BootstrapServers"] = "127.0.0.1:1",
            ["Invalidator:Kafka:StartupTimeout"] = "00:00:02",
            ["Invalidator:Http:Urls"] = "http://127.0.0.1:0",
            ["Invalidator:Http:StatusUrls"] = "http://127.0.0.1:0",
        });

        var result = await _files.RunBinaryAsync("run");

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Equal("", result.Output);
        Assert.Contains(result.ErrorLines, l => l.StartsWith("Loaded rules from ", StringComparison.Ordinal));
        Assert.Contains(result.ErrorLines, l => l.StartsWith("Region east connected to ", StringComparison.Ordinal));
        Assert.Contains(result.ErrorLines, l => l.StartsWith("The worker stopped: Cannot reach Kafka", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Dlq_replay_prints_only_its_counts_on_stdout()
    {
        WriteSettings(new Dictionary<string, string?>
        {
            ["Invalidator:Kafka:BootstrapServers"] = _servers.Kafka.BootstrapServers,
            ["Invalidator:DeadLetter:Topic"] = ServersFixture.UniqueName("dlq"),
        });

        var result = await _files.RunBinaryAsync("dlq", "replay", "--dry-run");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.StartsWith("read 0 dead letters: ", Assert.Single(result.Output.TrimEnd('\n').Split('\n')), StringComparison.Ordinal);
        Assert.Contains(result.ErrorLines, l => l.StartsWith("Loaded rules from ", StringComparison.Ordinal));
        Assert.Contains(result.ErrorLines, l => l.StartsWith("Region east connected to ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Explain_prints_only_its_json_on_stdout()
    {
        var record = _files.Write("record.json", """
            {"topic": "dbserver1.public.customers", "key": null,
             "value": {"op": "c", "before": null, "after": {"id": 7}, "source": {"schema": "public", "table": "customers"}}}
            """);

        var result = await _files.RunBinaryAsync("explain", "--rules", "rules.yaml", "--record", record);

        Assert.True(result.ExitCode == 0, result.ToString());
        using var json = JsonDocument.Parse(result.Output);
        Assert.Equal("customer:7", json.RootElement.GetProperty("keys")[0].GetString());
        Assert.Equal("", result.Error);
    }

    [Fact]
    public async Task Rules_check_errors_go_to_stderr_and_its_summary_to_stdout()
    {
        var good = await _files.RunBinaryAsync("rules", "check", "rules.yaml");
        var bad = await _files.RunBinaryAsync("rules", "check", _files.Write("bad.yaml", "tables:\n  public.x:\n    keyz: []\n"));

        Assert.True(good.ExitCode == 0, good.ToString());
        Assert.Matches(@": OK, 1 tables, 1 key templates, 0 tag templates \(version [0-9a-f]{12}\)\nbuilt in: ", good.Output.TrimEnd('\n'));
        Assert.Equal("", good.Error);
        Assert.True(bad.ExitCode == 1, bad.ToString());
        Assert.Equal("", bad.Output);
        Assert.EndsWith("1 error(s) in " + Path.Combine(_files.Directory, "bad.yaml"), bad.ErrorLines[^1], StringComparison.Ordinal);
    }
}
