using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using Invalidator.Client;
using Invalidator.IntegrationTests.Infrastructure;
using Invalidator.IntegrationTests.Worker;
using StackExchange.Redis;

namespace Invalidator.IntegrationTests.Cli;

/// <summary>
/// <c>audit</c> on real Redis servers (the regions east and west): planted uncovered keys are found, covered ones
/// are not reported, and it reads gently (SCAN, never KEYS; at the rate asked). Each test owns a key prefix, which
/// is also the region's <c>KeyPrefix</c>, so the audit sees only that test's keys.
/// </summary>
[Collection(ServersCollection.Name)]
public sealed class AuditCommandTests(ServersFixture servers) : IDisposable
{
    private const string Rules = """
        tables:
          public.customers:
            keys: ["customer:{id}", "customer:email:{email|lower}"]
            tags: ["tenant:{tenant_id}"]
            truncate: ["customers:all"]
          public.orders:
            keys: ["order:{id}", "customer:{customer_id}:orders"]
        """;

    private readonly CliFiles _files = new();

    public void Dispose() => _files.Dispose();

    [Fact]
    public async Task Finds_the_planted_uncovered_keys_by_shape_and_reports_none_of_the_covered()
    {
        var prefix = ServersFixture.UniqueName("audit") + ":";
        var east = await DatabaseAsync(ServersFixture.East);
        var hour = TimeSpan.FromHours(1);
        // Covered: by a key template, a truncate key, an invalidatable tag's set (and the set itself).
        await SetAsync(east, prefix, Enumerable.Range(1, 40).Select(i => $"customer:{i}"), hour);
        await SetAsync(east, prefix, ["customer:email:ann@example.com", "customer:3:orders", "order:a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "customers:all"], hour);
        await SetAsync(east, prefix, ["profile:7", "profile:8"], hour);
        await east.SetAddAsync(prefix + "tag:tenant:3", ["profile:7", "profile:8"]);
        // Uncovered: a shape with TTLs, one without (the loudest), a capitalised email the lower filter never
        // renders, a key one segment longer than any template, and the set of a tag no rule invalidates.
        await SetAsync(east, prefix, Enumerable.Range(1, 12).Select(i => $"session:{i}"), TimeSpan.FromMinutes(10));
        await SetAsync(east, prefix, ["report:2024", "report:2025"], ttl: null);
        await SetAsync(east, prefix, ["customer:email:Ann@Example.com"], hour);
        await SetAsync(east, prefix, ["customer:3:invoices"], hour);
        await SetAsync(east, prefix, ["avatar:9"], hour);
        await east.SetAddAsync(prefix + "tag:team:4", "avatar:9");
        // Outside the region's prefix: someone else's key, not this region's cache.
        await SetAsync(east, "", [prefix.TrimEnd(':') + "-other:1"], ttl: null);
        // West: everything covered.
        var west = await DatabaseAsync(ServersFixture.West);
        await SetAsync(west, prefix, ["customer:1", "order:2"], hour);
        var config = WriteConfig(prefix);

        var result = await CliFiles.InvokeAsync("audit", "--config", config, "--json");

        Assert.True(result.ExitCode == 1, result.ToString());
        using var report = JsonDocument.Parse(result.Output);
        var root = report.RootElement;
        Assert.False(root.GetProperty("covered").GetBoolean());
        var regions = root.GetProperty("regions").EnumerateArray().ToDictionary(r => r.GetProperty("region").GetString()!);
        Assert.Equal(["east", "west"], regions.Keys.Order());

        var eastReport = regions["east"];
        Assert.Equal(40 + 4 + 2 + 1 + 12 + 2 + 1 + 1 + 1 + 1, eastReport.GetProperty("scanned").GetInt64());
        var covered = eastReport.GetProperty("covered");
        Assert.Equal(44, covered.GetProperty("byTemplate").GetInt64());
        Assert.Equal(2, covered.GetProperty("byTagSet").GetInt64());
        Assert.Equal(1, covered.GetProperty("tagSets").GetInt64());
        var shapes = Shapes(eastReport);
        Assert.Equal(
            ["avatar:{#}", "customer:email:Ann@Example.com", "customer:{#}:invoices", "report:{#}", "session:{#}", "tag:team:{#}"],
            shapes.Select(s => s.Shape).Order(StringComparer.Ordinal));
        // Keys that never expire come first: the two reports, and the set of the tag no rule invalidates.
        Assert.Equal(("report:{#}", 2L, 2L), (shapes[0].Shape, shapes[0].Keys, shapes[0].WithoutTtl));
        Assert.Equal(("tag:team:{#}", 1L, 1L), (shapes[1].Shape, shapes[1].Keys, shapes[1].WithoutTtl));
        Assert.All(shapes.Skip(2), s => Assert.Equal(0, s.WithoutTtl));
        var session = shapes.Single(s => s.Shape == "session:{#}");
        Assert.Equal((12L, 0L), (session.Keys, session.WithoutTtl));
        Assert.InRange(session.MaxTtlSeconds!.Value, 1, 600);
        Assert.All(session.Examples, e => Assert.StartsWith("session:", e.Key, StringComparison.Ordinal));
        Assert.Equal(["report:2024", "report:2025"], shapes[0].Examples.Select(e => e.Key));
        Assert.All(shapes[0].Examples, e => Assert.Null(e.TtlSeconds));
        Assert.Equal(12 + 2 + 1 + 1 + 1 + 1, eastReport.GetProperty("uncovered").GetProperty("keys").GetInt64());
        var reported = shapes.SelectMany(s => s.Examples).Select(e => e.Key).ToList();
        Assert.DoesNotContain(reported, k => k.StartsWith("customer:1", StringComparison.Ordinal) || k.StartsWith("profile:", StringComparison.Ordinal) || k == "customers:all");
        Assert.DoesNotContain(shapes, s => s.Shape.Contains("other", StringComparison.Ordinal));

        var westReport = regions["west"];
        Assert.Equal(2, westReport.GetProperty("scanned").GetInt64());
        Assert.Empty(Shapes(westReport));
        Assert.Equal(0, westReport.GetProperty("uncovered").GetProperty("keys").GetInt64());
    }

    [Fact]
    public async Task Text_report_flags_keys_without_ttl_loudest()
    {
        var prefix = ServersFixture.UniqueName("audit") + ":";
        var east = await DatabaseAsync(ServersFixture.East);
        await SetAsync(east, prefix, ["customer:1"], TimeSpan.FromHours(1));
        await SetAsync(east, prefix, ["cache:1", "cache:2", "cache:3"], TimeSpan.FromMinutes(5));
        await SetAsync(east, prefix, ["forever:1"], ttl: null);
        var config = WriteConfig(prefix, regions: [ServersFixture.East]);

        var result = await CliFiles.InvokeAsync("audit", "--config", config);

        Assert.True(result.ExitCode == 1, result.ToString());
        var lines = result.Output.TrimEnd('\n').Split('\n');
        var notCovered = Array.FindIndex(lines, l => l.Contains("NOT COVERED: 4 keys in 2 shapes; 1 key in 1 shape has NO TTL: nothing will ever remove them", StringComparison.Ordinal));
        Assert.True(notCovered > 0, result.ToString());
        Assert.StartsWith("    NO TTL  forever:{#}", lines[notCovered + 1], StringComparison.Ordinal);
        Assert.Contains("cache:{#}", lines[notCovered + 2], StringComparison.Ordinal);
        Assert.Contains("3 keys, TTL", lines[notCovered + 2], StringComparison.Ordinal);
        Assert.StartsWith("result: NOT COVERED: 4 keys in 2 shapes, 1 of them without TTL", lines[^1], StringComparison.Ordinal);
        Assert.Contains(result.ErrorLines, l => l.StartsWith("audit east: 5 keys scanned in", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Audits_the_database_the_region_names_and_counts_lease_keys_with_their_key()
    {
        // Database 9 of east is this test's alone, so it can audit without a key prefix, where {K}:lease lease keys lie.
        var unique = ServersFixture.UniqueName("audit");
        using var connection = await ConnectionMultiplexer.ConnectAsync(servers.Redis.ConnectionString(ServersFixture.East) + ",defaultDatabase=9");
        var db = connection.GetDatabase();
        var hour = TimeSpan.FromHours(1);
        await SetAsync(db, "", [$"customer:{unique}", $"order:{unique}"], hour);
        await SetAsync(db, "", [LeaseProtocol.LeaseKey($"customer:{unique}"), LeaseProtocol.LeaseKey($"profile:{unique}"), LeaseProtocol.LeaseKey($"basket:{unique}")], TimeSpan.FromSeconds(30));
        await db.SetAddAsync($"tag:tenant:{unique}", $"profile:{unique}");
        await SetAsync(await DatabaseAsync(ServersFixture.East), "", [$"elsewhere:{unique}"], ttl: null); // database 0: not audited
        var config = WriteConfig("", regions: [ServersFixture.East]);
        var settings = File.ReadAllText(config).Replace(servers.Redis.ConnectionString(ServersFixture.East), servers.Redis.ConnectionString(ServersFixture.East) + ",defaultDatabase=9", StringComparison.Ordinal);
        File.WriteAllText(config, settings);

        var result = await CliFiles.InvokeAsync("audit", "--config", config, "--json");

        Assert.True(result.ExitCode == 1, result.ToString());
        using var report = JsonDocument.Parse(result.Output);
        var region = report.RootElement.GetProperty("regions")[0];
        Assert.Equal(6, region.GetProperty("scanned").GetInt64());
        Assert.Equal(2, region.GetProperty("coveredBy").GetProperty("(lease keys of covered keys)").GetInt64());
        var shape = Assert.Single(Shapes(region));
        Assert.Equal("{basket:" + unique + "}:lease", Assert.Single(shape.Examples).Key);
    }

    [Fact]
    public async Task Exits_0_when_every_key_is_covered()
    {
        var prefix = ServersFixture.UniqueName("audit") + ":";
        var east = await DatabaseAsync(ServersFixture.East);
        await SetAsync(east, prefix, ["customer:1", "customer:2:orders", "order:3"], TimeSpan.FromHours(1));
        await east.SetAddAsync(prefix + "tag:tenant:1", "customer:1");
        var config = WriteConfig(prefix, regions: [ServersFixture.East]);

        var result = await CliFiles.InvokeAsync("audit", "--config", config);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.EndsWith("result: every key is covered (4 keys in 1 region)", result.Output.TrimEnd('\n'), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Regions_of_other_targets_are_left_out_with_a_line_on_stderr()
    {
        var prefix = ServersFixture.UniqueName("audit") + ":";
        var east = await DatabaseAsync(ServersFixture.East);
        await SetAsync(east, prefix, ["customer:1"], TimeSpan.FromHours(1));
        var config = WriteConfig(prefix, regions: [ServersFixture.East, ServersFixture.West], westTarget: "FusionCache");

        var all = await CliFiles.InvokeAsync("audit", "--config", config);
        var onlyWest = await CliFiles.InvokeAsync("audit", "--config", config, "--region", "west");

        Assert.True(all.ExitCode == 0, all.ToString());
        Assert.Contains("audit: region west left out: its Target is FusionCache, and audit reads the keys of Target Redis only", all.ErrorLines);
        Assert.EndsWith("result: every key is covered (1 key in 1 region)", all.Output.TrimEnd('\n'), StringComparison.Ordinal);
        Assert.True(onlyWest.ExitCode == 2, onlyWest.ToString());
        Assert.StartsWith("audit failed: no region of Target Redis to audit", onlyWest.ErrorLines[^1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Wildcards_any_lets_a_placeholder_span_the_templates_separators()
    {
        var prefix = ServersFixture.UniqueName("audit") + ":";
        var east = await DatabaseAsync(ServersFixture.East);
        await SetAsync(east, prefix, ["customer:3:invoices"], TimeSpan.FromHours(1));
        var config = WriteConfig(prefix, regions: [ServersFixture.East]);

        var strict = await CliFiles.InvokeAsync("audit", "--config", config, "--json");
        var loose = await CliFiles.InvokeAsync("audit", "--config", config, "--json", "--wildcards", "any");

        Assert.True(strict.ExitCode == 1, strict.ToString());
        Assert.True(loose.ExitCode == 0, loose.ToString());
        using var report = JsonDocument.Parse(loose.Output);
        Assert.Equal("any", report.RootElement.GetProperty("placeholders").GetString());
    }

    [Fact]
    public async Task Scans_with_SCAN_never_KEYS_and_reads_tag_sets_with_SSCAN()
    {
        var prefix = ServersFixture.UniqueName("audit") + ":";
        var east = await DatabaseAsync(ServersFixture.East);
        await SetAsync(east, prefix, Enumerable.Range(1, 300).Select(i => $"customer:{i}"), TimeSpan.FromHours(1));
        await east.SetAddAsync(prefix + "tag:tenant:1", [.. Enumerable.Range(1, 50).Select(i => (RedisValue)$"x:{i}")]);
        var config = WriteConfig(prefix, regions: [ServersFixture.East]);
        var before = await CommandCallsAsync(ServersFixture.East);

        var result = await CliFiles.InvokeAsync("audit", "--config", config, "--json");

        var after = await CommandCallsAsync(ServersFixture.East);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(before.GetValueOrDefault("keys"), after.GetValueOrDefault("keys"));
        Assert.Equal(before.GetValueOrDefault("smembers"), after.GetValueOrDefault("smembers"));
        Assert.True(after["scan"] > before.GetValueOrDefault("scan"), "the audit should have scanned with SCAN");
        Assert.True(after["sscan"] > before.GetValueOrDefault("sscan"), "the audit should have read the tag set with SSCAN");
    }

    [Fact]
    public async Task Keeps_to_the_rate_and_reports_progress_on_stderr()
    {
        var prefix = ServersFixture.UniqueName("audit") + ":";
        var east = await DatabaseAsync(ServersFixture.East);
        await SetAsync(east, prefix, Enumerable.Range(1, 3000).Select(i => $"customer:{i}"), TimeSpan.FromHours(1));
        var config = WriteConfig(prefix, regions: [ServersFixture.East]);
        var clock = Stopwatch.StartNew();

        var result = await CliFiles.InvokeAsync("audit", "--config", config, "--rate", "1000/s");

        // 3000 reads at 1000 per second cannot take less than 3 s (less one page of 100 the pace may run ahead).
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(2.9), $"took {clock.Elapsed}: faster than the rate allows");
        // "about" DBSIZE keys: the server's, other tests' keys included.
        var progress = result.ErrorLines.Where(l => System.Text.RegularExpressions.Regex.IsMatch(l, @"^audit east: \d+ of about \d+ keys scanned \(")).ToList();
        Assert.True(progress.Count >= 1, result.ToString());
        Assert.Contains(progress, l => l.Contains("%), ", StringComparison.Ordinal) && l.Contains(" reads/s, about ", StringComparison.Ordinal) && l.EndsWith(" left", StringComparison.Ordinal));
        Assert.DoesNotContain("audit east:", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_sample_stops_the_scan_at_N_keys()
    {
        var prefix = ServersFixture.UniqueName("audit") + ":";
        var east = await DatabaseAsync(ServersFixture.East);
        await SetAsync(east, prefix, Enumerable.Range(1, 500).Select(i => $"session:{i}"), TimeSpan.FromHours(1));
        var config = WriteConfig(prefix, regions: [ServersFixture.East]);

        var result = await CliFiles.InvokeAsync("audit", "--config", config, "--json", "--sample", "100");

        Assert.True(result.ExitCode == 1, result.ToString());
        using var report = JsonDocument.Parse(result.Output);
        var region = report.RootElement.GetProperty("regions")[0];
        Assert.True(region.GetProperty("sampled").GetBoolean());
        Assert.Equal(100, region.GetProperty("scanned").GetInt64());
        Assert.Equal(100, Shapes(region).Single().Keys);
    }

    [Fact]
    public async Task The_binary_with_json_prints_only_json_on_stdout_and_every_log_line_on_stderr()
    {
        var prefix = ServersFixture.UniqueName("audit") + ":";
        var east = await DatabaseAsync(ServersFixture.East);
        await SetAsync(east, prefix, ["customer:1", "session:1"], TimeSpan.FromHours(1));
        var config = WriteConfig(prefix, regions: [ServersFixture.East]);

        var result = await _files.RunBinaryAsync("audit", "--config", config, "--json");

        Assert.True(result.ExitCode == 1, result.ToString());
        using var report = JsonDocument.Parse(result.Output); // throws if anything but the JSON is there
        Assert.Equal(1, report.RootElement.GetProperty("uncoveredKeys").GetInt64());
        Assert.Contains(result.ErrorLines, l => l.StartsWith("Loaded rules from ", StringComparison.Ordinal)); // the host's log
        Assert.Contains(result.ErrorLines, l => l.StartsWith("audit east: scanning ", StringComparison.Ordinal)); // progress
    }

    [Theory]
    [InlineData("--region", "north", "audit failed: unknown region 'north'; configured: east")]
    [InlineData("--rate", "fast", "audit failed: --rate must be a positive number of reads per second, such as 5000/s, not 'fast'")]
    [InlineData("--rate", "0/s", "audit failed: --rate must be a positive number")]
    [InlineData("--sample", "0", "audit failed: --sample must be at least 1, not 0")]
    public async Task Bad_arguments_exit_2_with_the_reason(string option, string value, string message)
    {
        var config = WriteConfig(ServersFixture.UniqueName("audit") + ":", regions: [ServersFixture.East]);

        var result = await CliFiles.InvokeAsync("audit", "--config", config, option, value);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.StartsWith(message, result.ErrorLines[^1], StringComparison.Ordinal);
        Assert.Equal("", result.Output);
    }

    [Fact]
    public async Task An_unreachable_region_exits_2_naming_it()
    {
        var config = _files.Write("unreachable.json", JsonSerializer.Serialize(new
        {
            Invalidator = new
            {
                Kafka = new { BootstrapServers = "127.0.0.1:1", Topics = new[] { "t" } },
                Rules = new { Path = _files.Write("rules.yaml", Rules) },
                Regions = new { east = new { Redis = "127.0.0.1:1,connectTimeout=500" } },
            },
        }));

        var result = await CliFiles.InvokeAsync("audit", "--config", config);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.StartsWith("audit failed: ", result.ErrorLines[^1], StringComparison.Ordinal);
        Assert.Contains("127.0.0.1:1", result.ErrorLines[^1], StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_bad_rules_file_exits_2_with_file_line_and_column()
    {
        var rules = _files.Write("bad.yaml", "tables:\n  public.customers:\n    keyz: [\"customer:{id}\"]\n");
        var config = WriteConfig(ServersFixture.UniqueName("audit") + ":", regions: [ServersFixture.East], rulesPath: rules);

        var result = await CliFiles.InvokeAsync("audit", "--config", config);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Equal("Invalid rules file:", result.ErrorLines[0]);
        Assert.StartsWith($"{rules}:3:5: unknown field 'keyz'", result.ErrorLines[1], StringComparison.Ordinal);
    }

    internal sealed record Example(string Key, double? TtlSeconds);

    internal sealed record ShapeRow(string Shape, long Keys, long WithoutTtl, double? MaxTtlSeconds, IReadOnlyList<Example> Examples);

    internal static List<ShapeRow> Shapes(JsonElement region) =>
        region.GetProperty("uncovered").GetProperty("shapes").EnumerateArray().Select(s => new ShapeRow(
            s.GetProperty("shape").GetString()!,
            s.GetProperty("keys").GetInt64(),
            s.GetProperty("withoutTtl").GetInt64(),
            s.GetProperty("maxTtlSeconds").ValueKind == JsonValueKind.Null ? null : s.GetProperty("maxTtlSeconds").GetDouble(),
            s.GetProperty("examples").EnumerateArray().Select(e => new Example(
                e.GetProperty("key").GetString()!,
                e.GetProperty("ttlSeconds").ValueKind == JsonValueKind.Null ? null : e.GetProperty("ttlSeconds").GetDouble())).ToList())).ToList();

    internal static async Task SetAsync(IDatabase database, string prefix, IEnumerable<string> keys, TimeSpan? ttl) =>
        await Task.WhenAll(keys.Select(k => ttl is { } t ? database.StringSetAsync(prefix + k, "cached", t) : database.StringSetAsync(prefix + k, "cached")));

    private async Task<IDatabase> DatabaseAsync(int server) => (await servers.Redis.ConnectAsync(server)).GetDatabase();

    /// <summary>Calls per command since the server started, from <c>INFO commandstats</c>.</summary>
    private async Task<Dictionary<string, long>> CommandCallsAsync(int server)
    {
        using var connection = await ConnectionMultiplexer.ConnectAsync(servers.Redis.ConnectionString(server) + ",allowAdmin=true");
        var info = await connection.GetServer(connection.GetEndPoints()[0]).InfoRawAsync("commandstats") ?? "";
        var calls = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var line in info.Split('\n', StringSplitOptions.TrimEntries))
        {
            // cmdstat_scan:calls=3,usec=...
            if (line.StartsWith("cmdstat_", StringComparison.Ordinal) && line.IndexOf(':') is var colon and > 0)
            {
                var fields = line[(colon + 1)..].Split(',');
                calls[line[8..colon]] = long.Parse(fields[0]["calls=".Length..], CultureInfo.InvariantCulture);
            }
        }

        return calls;
    }

    private string WriteConfig(string prefix, int[]? regions = null, string? rulesPath = null, string? westTarget = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Invalidator:Kafka:BootstrapServers"] = "127.0.0.1:1",
            ["Invalidator:Kafka:TopicPattern"] = "^none$",
            ["Invalidator:Rules:Path"] = rulesPath ?? _files.Write("rules.yaml", Rules),
        };
        foreach (var index in regions ?? [ServersFixture.East, ServersFixture.West])
        {
            var name = servers.Regions[index];
            settings[$"Invalidator:Regions:{name}:Redis"] = servers.Redis.ConnectionString(index);
            if (index == ServersFixture.West && westTarget is not null)
            {
                settings[$"Invalidator:Regions:{name}:Target"] = westTarget;
                continue;
            }

            settings[$"Invalidator:Regions:{name}:KeyPrefix"] = prefix;
        }

        var path = Path.Combine(_files.Directory, "settings.json");
        ConfigFile.Write(path, settings);
        return path;
    }
}
