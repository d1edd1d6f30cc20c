using Invalidator.Core.Rules;
using Invalidator.Worker.Options;
using Microsoft.Extensions.Configuration;

namespace Invalidator.Worker.Tests.Options;

/// <summary>
/// The replica wait's options (<c>Invalidator:Consistency:ReadReplicas</c>, <c>WaitForReplicas</c>, <c>ReplicaWaitMax</c>,
/// <c>Primary</c>): bound as documented, known to the unknown-keys check, and refused with the key to fix and no password.
/// </summary>
public sealed class ReplicaOptionsTests
{
    private const string Replica = "Host=replica1;Database=app;Username=invalidator;Password=s3cret-word";

    private static InvalidatorOptions Valid() => new()
    {
        Kafka = { BootstrapServers = "localhost:9092", Topics = ["dbserver1.public.customers"] },
        Rules = { Path = "rules.yaml" },
        Regions = { ["east"] = new RegionOptions { Redis = "localhost:6379" } },
    };

    private static IReadOnlyList<string> Failures(InvalidatorOptions options)
    {
        var result = new InvalidatorOptionsValidator().Validate(null, options);
        return result.Failed ? [.. result.Failures!] : [];
    }

    [Fact]
    public void The_keys_bind_and_are_known_to_the_unknown_keys_check()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Invalidator:Consistency:ReadReplicas:eu1"] = Replica,
            ["Invalidator:Consistency:ReadReplicas:eu2"] = "Host=replica2;Database=app",
            ["Invalidator:Consistency:WaitForReplicas"] = "true",
            ["Invalidator:Consistency:ReplicaWaitMax"] = "00:00:05",
            ["Invalidator:Consistency:Primary"] = "Host=primary;Database=app",
        }).Build();

        var options = new InvalidatorOptions();
        configuration.GetSection(InvalidatorOptions.SectionName).Bind(options);

        Assert.Empty(UnknownKeysValidator.Check(configuration.GetSection(InvalidatorOptions.SectionName), ConfigurationSchema.Worker));
        Assert.Equal(["eu1", "eu2"], options.Consistency.ReadReplicas.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(Replica, options.Consistency.ReadReplicas["EU1"]);
        Assert.True(options.Consistency.WaitForReplicas);
        Assert.Equal(TimeSpan.FromSeconds(5), options.Consistency.ReplicaWaitMax);
        Assert.Equal("Host=primary;Database=app", options.Consistency.Primary);
    }

    [Fact]
    public void Defaults_wait_for_no_replica_and_bound_a_wait_at_30_seconds()
    {
        var options = Valid();

        Assert.Empty(options.Consistency.ReadReplicas);
        Assert.False(options.Consistency.WaitForReplicas);
        Assert.Equal(TimeSpan.FromSeconds(30), options.Consistency.ReplicaWaitMax);
        Assert.Equal("", options.Consistency.Primary);
        Assert.Empty(Failures(options));
    }

    [Fact]
    public void WaitForReplicas_without_a_replica_is_refused()
    {
        var options = Valid();
        options.Consistency.WaitForReplicas = true;

        Assert.StartsWith(
            "Invalidator:Consistency:WaitForReplicas is true but Invalidator:Consistency:ReadReplicas names no replica",
            Assert.Single(Failures(options)), StringComparison.Ordinal);
    }

    [Fact]
    public void WaitForReplicas_in_kafka_mode_needs_the_primary_and_direct_mode_does_not()
    {
        var options = Valid();
        options.Consistency.WaitForReplicas = true;
        options.Consistency.ReadReplicas["eu1"] = Replica;

        Assert.Contains("Invalidator:Consistency:Primary is empty", Assert.Single(Failures(options)), StringComparison.Ordinal);

        options.Consistency.Primary = "Host=primary;Database=app";
        Assert.Empty(Failures(options));

        options.Consistency.Primary = "";
        options.Source = ChangeSourceKind.Postgres;
        options.Postgres.ConnectionString = "Host=primary;Database=app";
        Assert.Empty(Failures(options));
    }

    [Theory]
    [InlineData(50)]
    [InlineData(600_001)]
    public void ReplicaWaitMax_out_of_range_fails_naming_the_key(int milliseconds)
    {
        var options = Valid();
        options.Consistency.ReplicaWaitMax = TimeSpan.FromMilliseconds(milliseconds);

        Assert.StartsWith("Invalidator:Consistency:ReplicaWaitMax: must be between 00:00:00.100 and 00:10:00", Assert.Single(Failures(options)), StringComparison.Ordinal);
    }

    [Fact]
    public void An_empty_or_invalid_replica_connection_string_names_the_replica_and_never_the_password()
    {
        var options = Valid();
        options.Consistency.ReadReplicas["eu1"] = " ";
        options.Consistency.ReadReplicas["eu2"] = "Host=replica2;Password=ab;cd-secret-tail;Database=app";
        options.Consistency.Primary = "Host=primary;Nonsense=1";

        var failures = Failures(options);

        Assert.Equal(3, failures.Count);
        Assert.StartsWith("Invalidator:Consistency:ReadReplicas:eu1 is empty", failures[0], StringComparison.Ordinal);
        Assert.StartsWith("Invalidator:Consistency:ReadReplicas:eu2 is not a valid Npgsql connection string: (Npgsql's message is not shown", failures[1], StringComparison.Ordinal);
        Assert.StartsWith("Invalidator:Consistency:Primary is not a valid Npgsql connection string", failures[2], StringComparison.Ordinal);
        Assert.DoesNotContain(failures, f => f.Contains("secret", StringComparison.Ordinal));
    }

    [Fact]
    public void A_rule_that_waits_for_replicas_needs_a_replica_and_in_kafka_mode_the_primary()
    {
        var rules = RulesLoader.Parse("""
            tables:
              public.customers:
                keys: ["customer:{id}"]
                waitForReplicas: true
              public.orders:
                keys: ["order:{id}"]
            """, "rules.yaml");
        var consistency = new ConsistencyOptions();

        var failure = Assert.Single(ConsistencyOptionsValidation.ValidateRules(rules, consistency, ChangeSourceKind.Postgres));
        Assert.StartsWith("rules.yaml says waitForReplicas: true for public.customers (line 2), but Invalidator:Consistency:ReadReplicas names no replica", failure, StringComparison.Ordinal);

        consistency.ReadReplicas["eu1"] = Replica;
        Assert.Empty(ConsistencyOptionsValidation.ValidateRules(rules, consistency, ChangeSourceKind.Postgres));
        Assert.Contains("Invalidator:Consistency:Primary is empty", Assert.Single(ConsistencyOptionsValidation.ValidateRules(rules, consistency, ChangeSourceKind.Kafka)), StringComparison.Ordinal);
        consistency.Primary = "Host=primary";
        Assert.Empty(ConsistencyOptionsValidation.ValidateRules(rules, consistency, ChangeSourceKind.Kafka));
    }
}
