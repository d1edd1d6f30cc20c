using System.Globalization;
using System.Text;
using Invalidator.Core.ChangeEvents;
using Invalidator.Core.Planning;
using Invalidator.Core.Rules;
using Invalidator.TestData;

namespace Invalidator.Core.Tests.ChangeEvents;

/// <summary>
/// A value the decoder cannot read is never fatal (issue 17): an out-of-range time is no time, and any record, however
/// broken, either decodes or throws <see cref="ChangeEventFormatException"/> with a reason. The one-pass path never
/// throws at all. Checked on the issue's example and on many randomly broken real records.
/// </summary>
public class MutatedRecordTests
{
    private static readonly RuleSet Rules = RulesLoader.Parse(MutationSeeds.Rules, "mutation-rules.yaml");

    // The example of issue 17, with its rule public.t: {keys: ["t:{id}"]}.
    private const string IssueExample = """{"op":"c","after":{"id":1},"source":{"schema":"public","table":"t","ts_ms":1562202942666382}}""";

    [Fact]
    public void The_issue_s_record_with_microseconds_in_ts_ms_decodes_without_a_time_and_plans_its_key()
    {
        var value = Encoding.UTF8.GetBytes(IssueExample);

        var decoded = new DebeziumDecoder().Decode("srv.public.t", [], value, Rules.DecoderHints);

        var change = Assert.IsType<ChangeEvent>(decoded.Change);
        Assert.Null(change.CommitTime);
        Assert.Equal(["t:1"], new InvalidationPlanner(Rules).Plan(change).Keys);
        var batch = new InvalidationBatch();
        Assert.True(new OnePassPlanner(Rules).TryPlan("srv.public.t", [], value, batch, out var fast));
        Assert.Null(fast.CommitTime);
        Assert.Equal(["t:1"], batch.Keys);
    }

    [Theory]
    // Each unit beyond the instants DateTimeOffset holds, at the int64 edges, and just past year 9999.
    [InlineData("ts_ms", "1562202942666382")]
    [InlineData("ts_ms", "253402300800000")]
    [InlineData("ts_ms", "-62135596800001")]
    [InlineData("ts_ms", "9223372036854775807")]
    [InlineData("ts_ms", "-9223372036854775808")]
    [InlineData("ts_us", "9223372036854775807")]
    [InlineData("ts_us", "-9223372036854775808")]
    [InlineData("ts_us", "922337203685477580")]
    [InlineData("ts_us", "253402300800000000")]
    public void A_time_out_of_range_in_any_unit_is_no_time(string field, string number)
    {
        foreach (var placement in new[] { "source", "envelope" })
        {
            var source = placement == "source" ? $",\"{field}\":{number}" : "";
            var envelope = placement == "envelope" ? $",\"{field}\":{number}" : "";
            var value = Encoding.UTF8.GetBytes($$"""{"op":"u","after":{"id":2},"source":{"schema":"public","table":"t"{{source}}}{{envelope}}}""");

            var change = new DebeziumDecoder().Decode("srv.public.t", [], value, Rules.DecoderHints).Change!;
            Assert.Null(change.CommitTime);
            Assert.True(new OnePassPlanner(Rules).TryPlan("srv.public.t", [], value, new InvalidationBatch(), out var fast));
            Assert.Null(fast.CommitTime);
        }
    }

    [Fact]
    public void A_precise_time_out_of_range_gives_way_to_a_readable_one()
    {
        var value = Encoding.UTF8.GetBytes("""{"op":"u","after":{"id":2},"source":{"schema":"public","table":"t","ts_us":9223372036854775807,"ts_ms":1712000000123}}""");

        var change = new DebeziumDecoder().Decode("srv.public.t", [], value, Rules.DecoderHints).Change!;

        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1712000000123), change.CommitTime);
    }

    [Theory]
    [InlineData("2147483647")]
    [InlineData("-2147483648")]
    [InlineData("16384")]
    public void A_decimal_scale_no_database_has_is_a_reason_not_a_crash(string scale)
    {
        var schema = $$$"""{"type":"struct","fields":[{"type":"string","field":"item_code"},{"type":"bytes","name":"org.apache.kafka.connect.data.Decimal","parameters":{"scale":"{{{scale}}}"},"field":"amount"}]}""";
        var value = Encoding.UTF8.GetBytes($$$"""{"schema":{{{schema}}},"payload":{"item_code":"A1","amount":"AdUL"}}""");

        var error = Assert.Throws<ChangeEventFormatException>(() => new DebeziumDecoder().Decode("mall.shop.price_list", [], value, Rules.DecoderHints));

        Assert.Contains($"scale {scale}", error.Message, StringComparison.Ordinal);
        Assert.False(new OnePassPlanner(Rules).TryPlan("mall.shop.price_list", [], value, new InvalidationBatch(), out _));
    }

    [Theory]
    [InlineData("2147483647")]
    [InlineData("-2147483648")]
    public void A_variable_scale_decimal_with_a_scale_no_database_has_is_kept_as_written(string scale)
    {
        var value = Encoding.UTF8.GetBytes($$$"""{"op":"c","after":{"id":{"scale":{{{scale}}},"value":"AQ=="}},"source":{"schema":"public","table":"t"}}""");

        var change = new DebeziumDecoder().Decode("srv.public.t", [], value, Rules.DecoderHints).Change!;

        Assert.True(change.After!.TryGet("id", out var id));
        Assert.Contains(scale, id.Text, StringComparison.Ordinal);
    }

    /// <summary>
    /// Thousands of broken real records: decoding gives a change or a <see cref="ChangeEventFormatException"/> (a reason to
    /// dead-letter), the one-pass path never throws, and planning a decoded change never throws. The seed is random per
    /// run (set INVALIDATOR_MUTATION_SEED to repeat one) and is printed on failure.
    /// </summary>
    [Fact]
    public void Randomly_broken_records_decode_or_give_a_reason_and_never_throw_anything_else()
    {
        var seed = Seed();
        var mutator = new RecordMutator(seed);
        var seeds = MutationSeeds.All();
        var fast = new OnePassPlanner(Rules);
        var full = new InvalidationPlanner(Rules);
        var outcomes = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < 10_000; i++)
        {
            var original = seeds[i % seeds.Count];
            var record = mutator.Mutate(original.Topic, original.Key, original.Value);
            string outcome;
            try
            {
                _ = fast.TryPlan(record.Topic, record.Key, record.Value, new InvalidationBatch(), out _);
                try
                {
                    var decoded = new DebeziumDecoder().Decode(record.Topic, record.Key, record.Value, Rules.DecoderHints);
                    outcome = decoded.Change is { } change ? full.Plan(change).Outcome.ToString() : decoded.Kind.ToString();
                }
                catch (ChangeEventFormatException ex)
                {
                    Assert.False(string.IsNullOrWhiteSpace(ex.Message));
                    outcome = "Poison";
                }
            }
            catch (Exception ex) when (ex is not Xunit.Sdk.XunitException)
            {
                throw new Xunit.Sdk.XunitException(
                    $"seed {seed} (INVALIDATOR_MUTATION_SEED={seed} repeats it), record {i} from {original.Name} ({record.Mutation}) threw {ex}\n" +
                    $"topic {record.Topic}\nkey {Encoding.UTF8.GetString(record.Key)}\nvalue {Encoding.UTF8.GetString(record.Value)}");
            }

            outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
        }

        // The mutations reach past the first syntax check: some records still plan, some are poison.
        Assert.True(outcomes.GetValueOrDefault("Poison") > 500, $"seed {seed}: {string.Join(", ", outcomes)}");
        Assert.True(outcomes.GetValueOrDefault(nameof(PlanOutcome.Invalidate)) > 500, $"seed {seed}: {string.Join(", ", outcomes)}");
    }

    private static int Seed() =>
        Environment.GetEnvironmentVariable("INVALIDATOR_MUTATION_SEED") is { Length: > 0 } text
            ? int.Parse(text, CultureInfo.InvariantCulture)
            : Random.Shared.Next();
}
