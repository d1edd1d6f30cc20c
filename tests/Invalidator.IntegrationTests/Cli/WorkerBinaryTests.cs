using Invalidator.Worker.RulesReload;

namespace Invalidator.IntegrationTests.Cli;

/// <summary>
/// The shipped entry point: the built <c>invalidator</c> binary as a child process. <c>run</c> is tested here
/// rather than in process because its configuration comes from the working directory's appsettings.json and
/// the environment, both process-wide: each test writes its own files into a scratch working directory.
/// </summary>
public sealed class WorkerBinaryTests : IDisposable
{
    private const string ValidRules = "tables:\n  public.customers:\n    keys: [\"customer:{id}\"]\n";

    private readonly CliFiles _files = new();

    public WorkerBinaryTests() => _files.Write("rules.yaml", ValidRules);

    public void Dispose() => _files.Dispose();

    [Fact]
    public async Task Rules_check_on_the_binary_accepts_the_example_file()
    {
        var result = await _files.RunBinaryAsync("rules", "check", CliFiles.ExampleRules);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal($"{CliFiles.ExampleRules}: OK, 2 tables, 4 key templates, 1 tag templates (version {LoadedRules.VersionOf(File.ReadAllText(CliFiles.ExampleRules))})\n{CliFiles.BuiltInCanaryLine}", result.Output.TrimEnd('\n'));
        Assert.Equal("", result.Error);
    }

    [Fact]
    public async Task Rules_check_on_the_binary_reports_an_error_with_its_position()
    {
        var path = _files.Write("bad.yaml", "tables:\n  public.customers:\n    keys: [\"customer:{id}\"]\n    ops: [c, x]\n");

        var result = await _files.RunBinaryAsync("rules", "check", path);

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith($"{path}:4:14: unknown op 'x'", result.ErrorLines[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_without_regions_exits_2_naming_the_key_to_set()
    {
        WriteSettings(regions: null);

        var result = await _files.RunBinaryAsync("run");

        AssertConfigurationError(result, "Invalid configuration:", "Configure at least one region: Invalidator:Regions:<name>:Redis");
    }

    [Fact]
    public async Task Run_with_a_bad_redis_string_given_by_config_file_exits_2_naming_the_region_key()
    {
        WriteSettings(regions: null);
        var extra = _files.Write("extra.json", """{"Invalidator": {"Regions": {"east": {"Redis": "127.0.0.1:6379,bogus=1"}}}}""");

        var result = await _files.RunBinaryAsync("run", "--config", extra);

        AssertConfigurationError(result, "Invalid configuration:",
            "Invalidator:Regions:east:Redis is not a valid StackExchange.Redis configuration string: Keyword 'bogus' is not supported");
    }

    [Fact]
    public async Task Run_with_both_topics_and_topic_pattern_exits_2_naming_both_keys()
    {
        WriteSettings(kafka: """{"BootstrapServers": "127.0.0.1:1", "Topics": ["dbserver1.public.customers"], "TopicPattern": "^dbserver1\\..*"}""");

        var result = await _files.RunBinaryAsync("run");

        AssertConfigurationError(result, "Invalid configuration:",
            "Set exactly one of Invalidator:Kafka:Topics (a list) or Invalidator:Kafka:TopicPattern (a regular expression).");
    }

    [Fact]
    public async Task Run_with_a_leases_setting_that_is_not_true_or_false_exits_2_naming_the_key()
    {
        var config = _files.Write("leases.json", """
            {"Invalidator": {
              "Kafka": {"BootstrapServers": "127.0.0.1:1", "Topics": ["dbserver1.public.customers"]},
              "Rules": {"Path": "rules.yaml"},
              "Regions": {"east": {"Redis": "127.0.0.1:1"}},
              "Consistency": {"Leases": "sometimes"}}}
            """);

        var result = await _files.RunBinaryAsync("run", "--config", config);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains("Failed to convert configuration value 'sometimes' at 'Invalidator:Consistency:Leases' to type 'System.Boolean'", result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Output + result.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("\"800ms\"", "Failed to convert configuration value '800ms' at 'Invalidator:Consistency:SecondDeleteDelay' to type 'System.TimeSpan'", "for example 00:00:00.800")]
    [InlineData("\"00:20:00\"", "Invalidator:Consistency:SecondDeleteDelay: must be between 00:00:00 (off) and 00:10:00", "positions wait for the second delete")]
    public async Task Run_with_a_bad_second_delete_delay_exits_2_naming_the_key_and_the_fix(string value, string message, string fix)
    {
        var config = _files.Write("second.json", """
            {"Invalidator": {
              "Kafka": {"BootstrapServers": "127.0.0.1:1", "Topics": ["dbserver1.public.customers"]},
              "Rules": {"Path": "rules.yaml"},
              "Regions": {"east": {"Redis": "127.0.0.1:1"}},
              "Consistency": {"SecondDeleteDelay": VALUE}}}
            """.Replace("VALUE", value, StringComparison.Ordinal));

        var result = await _files.RunBinaryAsync("run", "--config", config);

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Contains(message, result.Error, StringComparison.Ordinal);
        Assert.Contains(fix, result.Error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Output + result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_with_a_missing_rules_file_exits_2_naming_the_file()
    {
        WriteSettings(rulesPath: "missing.yaml");
        var missing = Path.Combine(_files.Directory, "missing.yaml");

        var result = await _files.RunBinaryAsync("run");

        AssertConfigurationError(result, "Invalid rules file:", $"{missing}:0:0: rules file not found at '{missing}'");
    }

    [Fact]
    public async Task Run_with_a_bad_rules_file_exits_2_with_file_line_and_column()
    {
        var bad = _files.Write("bad.yaml", "tables:\n  public.customers:\n    keyz: [\"customer:{id}\"]\n");
        WriteSettings(rulesPath: "bad.yaml");

        var result = await _files.RunBinaryAsync("run");

        AssertConfigurationError(result, "Invalid rules file:", $"{bad}:3:5: unknown field 'keyz' in table 'public.customers'");
    }

    [Theory]
    [MemberData(nameof(RulesCheckCommandTests.Errors), MemberType = typeof(RulesCheckCommandTests))]
    public async Task Run_refuses_to_start_on_each_kind_of_rules_error_and_says_what_to_fix(string kind, string yaml, int line, int column, string reason)
    {
        var bad = _files.Write("bad.yaml", yaml);
        WriteSettings(rulesPath: "bad.yaml");

        var result = await _files.RunBinaryAsync("run");

        AssertConfigurationError(result, "Invalid rules file:", $"{bad}:{line}:{column}: ");
        Assert.True(result.Error.Contains(reason, StringComparison.Ordinal), $"{kind}: {result}");
    }

    [Fact]
    public async Task Run_with_an_unreachable_broker_exits_1_with_one_clear_line_and_no_stack_trace()
    {
        // Port 1 on loopback refuses connections at once; the HTTP listener takes any free port.
        _files.Write("appsettings.json", """
            {"Invalidator": {
              "Kafka": {"BootstrapServers": "127.0.0.1:1", "Topics": ["dbserver1.public.customers"], "StartupTimeout": "00:00:02"},
              "Rules": {"Path": "rules.yaml"},
              "Regions": {"east": {"Redis": "127.0.0.1:1"}},
              "Http": {"Urls": "http://127.0.0.1:0", "StatusUrls": "http://127.0.0.1:0"}}}
            """);

        var result = await _files.RunBinaryAsync("run");

        Assert.True(result.ExitCode == 1, result.ToString());
        Assert.Contains(
            "The worker stopped: Cannot reach Kafka at 127.0.0.1:1 within 2 s",
            result.Error + result.Output,
            StringComparison.Ordinal);
        Assert.Contains("Check Invalidator:Kafka:BootstrapServers", result.Error + result.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", result.Error + result.Output, StringComparison.Ordinal);
    }

    /// <summary>appsettings.json in the scratch working directory: a complete, valid configuration unless a part is replaced.</summary>
    private void WriteSettings(
        string kafka = """{"BootstrapServers": "127.0.0.1:1", "Topics": ["dbserver1.public.customers"]}""",
        string rulesPath = "rules.yaml",
        string? regions = """{"east": {"Redis": "127.0.0.1:1"}}""")
    {
        var regionsPart = regions is null ? "" : $", \"Regions\": {regions}";
        var invalidator = $"{{\"Kafka\": {kafka}, \"Rules\": {{\"Path\": \"{rulesPath}\"}}{regionsPart}}}";
        _files.Write("appsettings.json", $"{{\"Logging\": {{\"LogLevel\": {{\"Default\": \"Information\"}}}}, \"Invalidator\": {invalidator}}}");
    }

    /// <summary>Exit code 2, the heading and the line to fix on stderr, and no stack trace anywhere.</summary>
    private static void AssertConfigurationError(CliResult result, string heading, string line)
    {
        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Equal(heading, result.ErrorLines[0]);
        Assert.Contains(result.ErrorLines.Skip(1), l => l.StartsWith(line, StringComparison.Ordinal));
        foreach (var text in new[] { result.Output, result.Error })
        {
            Assert.DoesNotContain("   at ", text, StringComparison.Ordinal);
            Assert.DoesNotContain("Exception", text, StringComparison.Ordinal);
        }
    }
}
