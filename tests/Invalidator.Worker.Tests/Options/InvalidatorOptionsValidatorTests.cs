using Invalidator.Worker.Options;

namespace Invalidator.Worker.Tests.Options;

/// <summary>The configuration checks, data annotations of nested sections included, each naming its key.</summary>
public sealed class InvalidatorOptionsValidatorTests
{
    private static InvalidatorOptions Valid() => new()
    {
        Kafka = { BootstrapServers = "localhost:9092", Topics = ["dbserver1.public.customers"] },
        Rules = { Path = "rules.yaml" },
        Regions = { ["east"] = new RegionOptions { Redis = "localhost:6379" } },
    };

    private static IReadOnlyList<string> Failures(InvalidatorOptions options)
    {
        var result = new InvalidatorOptionsValidator().Validate(null, options);
        Assert.Equal(result.Failed, !result.Succeeded);
        return result.Failed ? [.. result.Failures!] : [];
    }

    [Fact]
    public void A_complete_configuration_passes()
    {
        Assert.Empty(Failures(Valid()));
    }

    [Fact]
    public void A_topic_pattern_alone_passes()
    {
        var options = Valid();
        options.Kafka.Topics = [];
        options.Kafka.TopicPattern = @"^dbserver1\.public\..*";

        Assert.Empty(Failures(options));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(65)]
    public void Max_in_flight_out_of_range_fails_naming_the_key(int maxInFlight)
    {
        var options = Valid();
        options.Batching.MaxInFlight = maxInFlight;

        Assert.Contains("Invalidator:Batching:MaxInFlight", Assert.Single(Failures(options)), StringComparison.Ordinal);
    }

    [Fact]
    public void Max_in_flight_defaults_to_a_few_batches_and_one_is_allowed()
    {
        var options = Valid();
        Assert.InRange(options.Batching.MaxInFlight, 2, 4);
        options.Batching.MaxInFlight = 1;

        Assert.Empty(Failures(options));
    }

    [Fact]
    public void Neither_topics_nor_a_pattern_fails()
    {
        var options = Valid();
        options.Kafka.Topics = [];

        Assert.Equal(
            ["Set exactly one of Invalidator:Kafka:Topics (a list) or Invalidator:Kafka:TopicPattern (a regular expression)."],
            Failures(options));
    }

    [Fact]
    public void Both_topics_and_a_pattern_fail()
    {
        var options = Valid();
        options.Kafka.TopicPattern = "^dbserver1";

        Assert.Contains("Set exactly one of Invalidator:Kafka:Topics", Assert.Single(Failures(options)), StringComparison.Ordinal);
    }

    [Fact]
    public void Blank_topics_and_a_blank_pattern_count_as_absent()
    {
        // An environment variable set to "" is how a deployment blanks the shipped TopicPattern.
        var blanks = Valid();
        blanks.Kafka.Topics = ["", "  "];
        blanks.Kafka.TopicPattern = " ";
        Assert.Contains("Set exactly one of", Assert.Single(Failures(blanks)), StringComparison.Ordinal);

        var blankPattern = Valid();
        blankPattern.Kafka.TopicPattern = "";
        Assert.Empty(Failures(blankPattern));
    }

    [Fact]
    public void An_invalid_topic_pattern_fails_naming_the_key()
    {
        var options = Valid();
        options.Kafka.Topics = [];
        options.Kafka.TopicPattern = "^dbserver1.(public";

        Assert.StartsWith("Invalidator:Kafka:TopicPattern is not a valid regular expression:", Assert.Single(Failures(options)), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("true")]
    [InlineData("True")]
    [InlineData("TRUE")]
    [InlineData("t")]
    [InlineData("T")]
    [InlineData("1")]
    public void Automatic_offset_store_is_refused_in_every_spelling_librdkafka_reads_as_true(string value)
    {
        var options = Valid();
        options.Kafka.Consumer["enable.auto.offset.store"] = value;

        Assert.StartsWith("Invalidator:Kafka:Consumer:enable.auto.offset.store must stay false", Assert.Single(Failures(options)), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("false")]
    [InlineData("f")]
    [InlineData("0")]
    public void Automatic_offset_store_off_passes(string value)
    {
        var options = Valid();
        options.Kafka.Consumer["enable.auto.offset.store"] = value;
        options.Kafka.Consumer["auto.commit.interval.ms"] = "200";

        Assert.Empty(Failures(options));
    }

    [Fact]
    public void No_region_fails_saying_how_to_configure_one()
    {
        var options = Valid();
        options.Regions.Clear();

        Assert.StartsWith("Configure at least one region: Invalidator:Regions:<name>:Redis", Assert.Single(Failures(options)), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    public void An_empty_redis_string_fails_naming_the_region(string redis)
    {
        var options = Valid();
        options.Regions["west"] = new RegionOptions { Redis = redis };

        Assert.StartsWith("Invalidator:Regions:west:Redis is empty", Assert.Single(Failures(options)), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("localhost:6379,bogus=1", "Keyword 'bogus' is not supported")]
    [InlineData("localhost:6379,connectTimeout=soon", "Keyword 'connectTimeout' requires an integer value")]
    public void A_redis_string_stackexchange_redis_cannot_parse_fails_with_its_reason(string redis, string reason)
    {
        var options = Valid();
        options.Regions["west"] = new RegionOptions { Redis = redis };

        var failure = Assert.Single(Failures(options));
        Assert.StartsWith("Invalidator:Regions:west:Redis is not a valid StackExchange.Redis configuration string: ", failure, StringComparison.Ordinal);
        Assert.Contains(reason, failure, StringComparison.Ordinal);
    }

    [Fact]
    public void A_redis_string_without_an_endpoint_fails()
    {
        var options = Valid();
        options.Regions["west"] = new RegionOptions { Redis = "password=secret,ssl=true" };

        Assert.StartsWith("Invalidator:Regions:west:Redis names no endpoint", Assert.Single(Failures(options)), StringComparison.Ordinal);
    }

    [Fact]
    public void A_redis_string_with_options_and_several_endpoints_passes()
    {
        var options = Valid();
        options.Regions["west"] = new RegionOptions { Redis = "redis-a:6379,redis-b:6380,password=secret,ssl=true,abortConnect=false" };

        Assert.Empty(Failures(options));
    }

    [Fact]
    public void A_max_delay_shorter_than_the_base_delay_fails()
    {
        var options = Valid();
        options.Regions["east"].Resilience.BaseDelay = TimeSpan.FromSeconds(2);
        options.Regions["east"].Resilience.MaxDelay = TimeSpan.FromSeconds(1);

        Assert.Equal(["Invalidator:Regions:east:Resilience:MaxDelay must not be shorter than BaseDelay."], Failures(options));
    }

    [Fact]
    public void Every_problem_is_reported_at_once()
    {
        var options = Valid();
        options.Kafka.Topics = [];
        options.Kafka.Consumer["enable.auto.offset.store"] = "true";
        options.Regions["east"].Redis = "";
        options.Regions["west"] = new RegionOptions { Redis = "localhost:6379,bogus=1" };

        var failures = Failures(options);

        Assert.Equal(4, failures.Count);
        Assert.Contains(failures, f => f.StartsWith("Set exactly one of", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Invalidator:Kafka:Consumer:enable.auto.offset.store", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Invalidator:Regions:east:Redis is empty", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Invalidator:Regions:west:Redis is not a valid", StringComparison.Ordinal));
    }

    // The second delete's settings: off by default, a delay up to 10 minutes, a bound on what waits.
    [Fact]
    public void The_second_delete_is_off_by_default_and_a_delay_up_to_ten_minutes_passes()
    {
        var options = Valid();
        Assert.Equal(TimeSpan.Zero, options.Consistency.SecondDeleteDelay);
        Assert.Equal(1_000_000, options.Consistency.SecondDeleteMaxPending);

        options.Consistency.SecondDeleteDelay = TimeSpan.FromMinutes(10);
        Assert.Empty(Failures(options));
        options.Consistency.SecondDeleteDelay = TimeSpan.FromMilliseconds(800);
        Assert.Empty(Failures(options));
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(600_001)]
    public void A_delay_out_of_range_fails_naming_the_key_and_the_limits(int milliseconds)
    {
        var options = Valid();
        options.Consistency.SecondDeleteDelay = TimeSpan.FromMilliseconds(milliseconds);

        var failure = Assert.Single(Failures(options));
        Assert.StartsWith("Invalidator:Consistency:SecondDeleteDelay: must be between 00:00:00 (off) and 00:10:00", failure, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(999)]
    [InlineData(100_000_001)]
    public void A_pending_bound_out_of_range_fails_naming_the_key(int bound)
    {
        var options = Valid();
        options.Consistency.SecondDeleteMaxPending = bound;

        Assert.StartsWith("Invalidator:Consistency:SecondDeleteMaxPending: must be between 1000 and 100000000", Assert.Single(Failures(options)), StringComparison.Ordinal);
    }
}
