using Invalidator.Worker.Options;

namespace Invalidator.Worker.Tests.Options;

/// <summary><c>Invalidator:Probe</c>: defaults as the issue gives them, and each bad value named with its fix.</summary>
public sealed class ProbeOptionsTests
{
    private static InvalidatorOptions Valid(ChangeSourceKind source = ChangeSourceKind.Kafka) => new()
    {
        Source = source,
        Kafka = { BootstrapServers = "localhost:9092", Topics = ["dbserver1.public.customers"] },
        Postgres = { ConnectionString = "Host=db;Database=app;Username=invalidator" },
        Rules = { Path = "rules.yaml" },
        Regions = { ["east"] = new RegionOptions { Redis = "localhost:6379" } },
        Probe = { Enabled = true, ConnectionString = source == ChangeSourceKind.Kafka ? "Host=db;Database=app;Username=probe" : "" },
    };

    private static IReadOnlyList<string> Failures(InvalidatorOptions options)
    {
        var result = new InvalidatorOptionsValidator().Validate(null, options);
        return result.Failed ? [.. result.Failures!] : [];
    }

    [Fact]
    public void The_defaults_are_the_contract()
    {
        var probe = new ProbeOptions();

        Assert.False(probe.Enabled);
        Assert.Equal(TimeSpan.FromSeconds(5), probe.Interval);
        Assert.Equal("public.invalidator_canary", probe.Table);
        Assert.Equal(TimeSpan.FromSeconds(1), probe.Objective);
        Assert.Equal(TimeSpan.FromSeconds(60), probe.Deadline);
        Assert.Equal("", probe.ConnectionString);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void An_enabled_probe_with_its_connection_passes(bool kafka) =>
        Assert.Empty(Failures(Valid(kafka ? ChangeSourceKind.Kafka : ChangeSourceKind.Postgres)));

    [Fact]
    public void Kafka_mode_without_a_connection_string_fails_naming_the_key_and_the_way_out()
    {
        var options = Valid();
        options.Probe.ConnectionString = "";

        var failure = Assert.Single(Failures(options));
        Assert.Contains("Invalidator:Probe:ConnectionString is empty", failure, StringComparison.Ordinal);
        Assert.Contains("Invalidator:Probe:Enabled to false", failure, StringComparison.Ordinal);

        // Control: off, nothing is asked of it.
        options.Probe.Enabled = false;
        Assert.Empty(Failures(options));
    }

    [Fact]
    public void Direct_mode_refuses_a_connection_string_of_its_own()
    {
        var options = Valid(ChangeSourceKind.Postgres);
        options.Probe.ConnectionString = "Host=other";

        Assert.Contains("the probe writes through the source's own connection", Assert.Single(Failures(options)), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("invalidator_canary")]
    [InlineData("Public.Canary")]
    [InlineData("a.b.c")]
    [InlineData("public.canary; drop table x")]
    public void A_table_that_is_not_a_lower_case_schema_table_fails_even_when_the_probe_is_off(string table)
    {
        var options = Valid();
        options.Probe.Enabled = false;
        options.Probe.Table = table;

        Assert.Contains("Invalidator:Probe:Table", Assert.Single(Failures(options)), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("00:00:00.050", "00:00:01", "00:01:00", "Invalidator:Probe:Interval")]
    [InlineData("00:00:05", "00:00:00", "00:01:00", "Invalidator:Probe:Objective")]
    [InlineData("00:00:05", "00:00:02", "00:00:02", "Invalidator:Probe:Deadline")]
    [InlineData("00:00:05", "00:00:01", "02:00:00", "Invalidator:Probe:Deadline")]
    public void Times_out_of_range_fail_naming_the_key(string interval, string objective, string deadline, string key)
    {
        var options = Valid();
        options.Probe.Interval = TimeSpan.Parse(interval, System.Globalization.CultureInfo.InvariantCulture);
        options.Probe.Objective = TimeSpan.Parse(objective, System.Globalization.CultureInfo.InvariantCulture);
        options.Probe.Deadline = TimeSpan.Parse(deadline, System.Globalization.CultureInfo.InvariantCulture);

        Assert.StartsWith(key + " is ", Assert.Single(Failures(options)), StringComparison.Ordinal);
    }
}
