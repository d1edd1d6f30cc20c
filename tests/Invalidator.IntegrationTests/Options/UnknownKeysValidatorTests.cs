using Invalidator.IntegrationTests.Cli;
using Invalidator.Worker.Hosting;
using Invalidator.Worker.Options;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Invalidator.IntegrationTests.Options;

/// <summary>
/// Keys under <c>Invalidator</c> that no option reads stop the start, each named with the closest known key.
/// Unit tests of internal classes (this project is the one the Worker grants InternalsVisibleTo), plus the
/// built binary for the exit code.
/// </summary>
public sealed class UnknownKeysValidatorTests
{
    private static List<string> Failures(params (string Key, string? Value)[] settings)
    {
        var configuration = new ConfigurationBuilder()
            .AddInMemoryCollection(settings.Select(s => new KeyValuePair<string, string?>(s.Key, s.Value)))
            .Build();
        var result = new UnknownKeysValidator(configuration, ConfigurationSchema.Worker).Validate(null, new InvalidatorOptions());
        return result.Failed ? [.. result.Failures!] : [];
    }

    [Fact]
    public void The_shipped_appsettings_json_has_only_known_keys()
    {
        var configuration = new ConfigurationBuilder().AddJsonFile(Path.Combine(CliFiles.Repository, "appsettings.json")).Build();

        var failures = UnknownKeysValidator.Check(configuration.GetSection("Invalidator"), ConfigurationSchema.Worker);

        Assert.Empty(failures);
        Assert.NotEmpty(configuration.GetSection("Invalidator").GetChildren()); // the file was read
    }

    [Fact]
    public void Every_documented_kind_of_key_is_known()
    {
        Assert.Empty(Failures(
            ("Invalidator:Source", "Postgres"),
            ("Invalidator:Kafka:BootstrapServers", "kafka:9092"),
            ("Invalidator:Kafka:Topics:0", "a"),
            ("Invalidator:Kafka:Topics:1", "b"),
            ("Invalidator:Kafka:StartupTimeout", "00:00:30"),
            ("Invalidator:Postgres:TemporarySlot", "true"),
            ("Invalidator:Rules:Path", "rules.yaml"),
            ("Invalidator:Regions:east:Redis", "redis:6379"),
            ("Invalidator:Regions:east:Resilience:CircuitBreaker:BreakDuration", "00:00:05"),
            ("Invalidator:Regions:east:Target", "FusionCache"),
            ("Invalidator:Regions:east:FusionCache:CacheName", "products"),
            ("Invalidator:Regions:east:FusionCache:CacheKeyPrefix", "products:"),
            ("Invalidator:Regions:east:FusionCache:BackplaneChannelPrefix", "shop"),
            ("Invalidator:Regions:east:FusionCache:InstanceName", "shop:"),
            ("Invalidator:Regions:east:FusionCache:Serializer", "SystemTextJson"),
            ("Invalidator:Regions:east:FusionCache:TagEntryDuration", "1.00:00:00"),
            ("Invalidator:Regions:west:OutputCache:InstanceName", "web:"),
            ("Invalidator:Batching:KeysPerCommand", "500"),
            ("Invalidator:DeadLetter:RedriveRetryInterval", "00:00:01"),
            ("Invalidator:Http:LivenessTimeout", "00:02:00")));
    }

    [Fact]
    public void The_open_ended_maps_take_any_key()
    {
        Assert.Empty(Failures(
            ("Invalidator:Kafka:Consumer:session.timeout.ms", "6000"),
            ("Invalidator:Kafka:Consumer:any.setting.librdkafka.may.add", "x"),
            ("Invalidator:Kafka:Producer:linger.ms", "5"),
            ("Invalidator:Regions:any-region-name:Redis", "redis:6379")));
    }

    [Fact]
    public void Keys_match_without_regard_to_case_as_the_binder_reads_them()
    {
        Assert.Empty(Failures(("invalidator:batching:maxrecords", "10"), ("INVALIDATOR:REGIONS:East:KEYPREFIX", "p:")));
    }

    [Fact]
    public void A_misspelt_key_is_named_with_the_closest_known_key_at_its_level()
    {
        Assert.Equal(
            [
                "Invalidator:Batching:MaxRecord is not a known key; the closest known key is Invalidator:Batching:MaxRecords. Correct or remove it.",
                "Invalidator:Http:Url is not a known key; the closest known key is Invalidator:Http:Urls. Correct or remove it.",
                "Invalidator:Regions:east:KeyPrefx is not a known key; the closest known key is Invalidator:Regions:east:KeyPrefix. Correct or remove it.",
                "Invalidator:Regions:east:Resilience:MaxRetryAttempt is not a known key; the closest known key is Invalidator:Regions:east:Resilience:MaxRetryAttempts. Correct or remove it.",
                "Invalidator:Sorce is not a known key; the closest known key is Invalidator:Source. Correct or remove it.",
            ],
            Failures(
                ("Invalidator:Sorce", "Postgres"),
                ("Invalidator:Batching:MaxRecord", "10"),
                ("Invalidator:Regions:east:Redis", "redis:6379"),
                ("Invalidator:Regions:east:KeyPrefx", "p:"),
                ("Invalidator:Regions:east:Resilience:MaxRetryAttempt", "3"),
                ("Invalidator:Http:Url", "http://0.0.0.0:8080")).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void A_misspelt_section_is_reported_once_with_the_number_of_keys_below_it()
    {
        Assert.Equal(
            ["Invalidator:Kafak is not a known key (with the 2 keys below it); the closest known key is Invalidator:Kafka. Correct or remove it."],
            Failures(("Invalidator:Kafak:BootstrapServers", "kafka:9092"), ("Invalidator:Kafak:GroupId", "g")));
    }

    [Fact]
    public void A_key_below_a_value_is_reported()
    {
        Assert.Equal(
            ["Invalidator:Rules:Path:File is not a known key: Invalidator:Rules:Path takes a value, not keys below it. Remove it, or set Invalidator:Rules:Path itself."],
            Failures(("Invalidator:Rules:Path:File", "rules.yaml")));
    }

    [Fact]
    public void Keys_outside_the_Invalidator_section_are_not_checked()
    {
        Assert.Empty(Failures(("Logging:LogLevel:Default", "Debug"), ("Kestrel:Limits:MaxRequestBodySize", "1")));
    }

    [Fact]
    public void The_schema_is_derived_from_the_options_types_so_new_options_are_known_without_a_list()
    {
        var schema = ConfigurationSchema.For("App", ("App", typeof(SampleOptions)), ("App:Mounted", typeof(MountedOptions)));
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["App:Name"] = "x",
            ["App:renamed-key"] = "x",
            ["App:Items:0:Name"] = "x",
            ["App:ByKind:Fast:Name"] = "x",
            ["App:ByKind:Slow"] = "x",
            ["App:Child:Child:Name"] = "x",
            ["App:Mounted:Depth"] = "3",
            ["App:Items:1:Nmae"] = "x",
            ["App:ByKind:Medium:Name"] = "x",
            ["App:Renamed"] = "x",
        }).Build();

        var failures = UnknownKeysValidator.Check(configuration.GetSection("App"), schema);

        Assert.Equal(
            [
                "App:ByKind:Medium is not a known key (with the 1 key below it); the closest known key is App:ByKind:Fast. Correct or remove it.",
                "App:Items:1:Nmae is not a known key; the closest known key is App:Items:1:Name. Correct or remove it.",
                "App:Renamed is not a known key; the closest known key is App:Name. Correct or remove it.",
            ],
            failures.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Every_options_type_the_worker_binds_is_part_of_the_schema()
    {
        // A later options class bound without a SectionName under Invalidator would have its keys reported as
        // unknown: this names it instead.
        var services = new ServiceCollection().AddInvalidator();
        var workerAssembly = typeof(InvalidatorOptions).Assembly;
        var bound = services
            .Select(s => s.ServiceType)
            .Where(t => t.IsGenericType && t.GetGenericTypeDefinition() == typeof(IConfigureOptions<>))
            .Select(t => t.GetGenericArguments()[0])
            .Where(t => t.Assembly == workerAssembly)
            .Distinct()
            .ToList();

        Assert.Contains(typeof(InvalidatorOptions), bound);
        Assert.Contains(typeof(HttpOptions), bound);
        Assert.All(bound, type => Assert.Contains(type, ConfigurationSchema.Worker.Sections.Select(s => s.Type)));
    }

    [Fact]
    public void Closest_prefers_fewest_edits_and_counts_a_swap_as_one()
    {
        Assert.Equal(1, UnknownKeysValidator.EditDistance("TARGTE", "TARGET"));
        Assert.Equal(2, UnknownKeysValidator.EditDistance("TAGET", "TARGETS"));
        Assert.Equal("KeyPrefix", UnknownKeysValidator.Closest("keyprefx", ["Redis", "KeyPrefix", "DeleteCommand"]));
    }

    [Fact]
    public async Task Run_with_a_misspelt_key_exits_2_naming_it_and_the_closest_known_key()
    {
        using var files = new CliFiles();
        files.Write("rules.yaml", "tables:\n  public.customers:\n    keys: [\"customer:{id}\"]\n");
        files.Write("appsettings.json", """
            {"Invalidator": {
              "Kafka": {"BootstrapServers": "127.0.0.1:1", "Topics": ["dbserver1.public.customers"]},
              "Rules": {"Path": "rules.yaml"},
              "Regions": {"east": {"Redis": "127.0.0.1:1", "DeleteComand": "Del"}}}}
            """);

        var result = await files.RunBinaryAsync("run");

        Assert.True(result.ExitCode == 2, result.ToString());
        Assert.Equal(
            ["Invalid configuration:", "Invalidator:Regions:east:DeleteComand is not a known key; the closest known key is Invalidator:Regions:east:DeleteCommand. Correct or remove it."],
            result.ErrorLines);
    }

    public enum SampleKind
    {
        Fast,
        Slow,
    }

    public sealed class SampleOptions
    {
        public string Name { get; set; } = "";

        [ConfigurationKeyName("renamed-key")]
        public string Renamed { get; set; } = "";

        public List<SampleOptions> Items { get; set; } = [];

        public Dictionary<SampleKind, SampleOptions> ByKind { get; set; } = [];

        public SampleOptions? Child { get; set; }
    }

    public sealed class MountedOptions
    {
        public int Depth { get; set; }
    }
}
