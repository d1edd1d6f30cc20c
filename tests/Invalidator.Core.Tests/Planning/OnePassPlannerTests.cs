using System.Text;
using Invalidator.Core.ChangeEvents;
using Invalidator.Core.Planning;
using Invalidator.Core.Rules;
using Invalidator.Core.Tests.ChangeEvents;
using Invalidator.TestData;

namespace Invalidator.Core.Tests.Planning;

/// <summary>
/// The worker's one-pass path (<see cref="OnePassPlanner"/>) against the full path (decode, plan, add the plan to a
/// batch): for every record it takes, the same keys, tags, lease names, second-delete names by delay, outcome,
/// unresolved templates, table, operation and commit time, and for a shadow plan (a rule's <c>shadow: true</c> or every
/// plan in shadow mode) the same counts and example with nothing added to the batch; for every record it leaves to the
/// full path, an untouched batch.
/// </summary>
public class OnePassPlannerTests
{
    private const string FixtureRules = """
        tables:
          inventory.customers:
            keys: ["customer:{id}", "customer:email:{email|lower}", "customer:bio:{biography}"]
            tags: ["name:{last_name|upper}"]
          public.customers:
            keys: ["customer:{id}", "customer:email:{email|lower}"]
            truncate: ["customers:all"]
          inventory.products:
            keys: ["product:{id}", "product:name:{name|lower}:{weight}"]
            changed: [name, weight]
            leases: true
          public.profile:
            keys: ["profile:{id}", "profile:color:{color}"]
            replicaIdentity: default
          public.users:
            keys: ["user:{id}", "user:email:{email}"]
            ops: [c, u, d, r]
          public.orders:
            keys: ["order:{order_id}", "order:{o_key}:{o_numeric}:{o_bytea}:{o_json}:{o_uuid}:{o_timestampz_6}"]
            ops: [c, u, d, r]
          public.orders_tx:
            keys: ["order:{order_id}:{price}"]
            decimals: [price]
          public.tickets:
            keys: ["ticket:{id}:{ticket_price}:{discount}"]
            tags: ["owner:{owner_id}"]
        """;

    // The fixture rules with the consistency fields: second deletes (two tables sharing a delay, one turned off), leases,
    // shadow tables (one with leases too), tables that wait for the read replicas.
    private const string ConsistencyRules = """
        tables:
          inventory.customers:
            keys: ["customer:{id}", "customer:email:{email|lower}", "customer:bio:{biography}"]
            tags: ["name:{last_name|upper}"]
            secondDelete: 800ms
            leases: true
          public.customers:
            keys: ["customer:{id}", "customer:email:{email|lower}"]
            truncate: ["customers:all"]
            secondDelete: 0s
            waitForReplicas: true
          inventory.products:
            keys: ["product:{id}", "product:name:{name|lower}:{weight}"]
            changed: [name, weight]
            leases: true
            shadow: true
          public.profile:
            keys: ["profile:{id}", "profile:color:{color}"]
            replicaIdentity: default
            secondDelete: 2s
            shadow: true
          public.users:
            keys: ["user:{id}", "user:email:{email}"]
            ops: [c, u, d, r]
            secondDelete: 800ms
            waitForReplicas: true
          public.orders:
            keys: ["order:{order_id}", "order:{o_key}:{o_numeric}:{o_bytea}:{o_json}:{o_uuid}:{o_timestampz_6}"]
            ops: [c, u, d, r]
            secondDelete: 1m
          public.orders_tx:
            keys: ["order:{order_id}:{price}"]
            decimals: [price]
            shadow: true
          public.tickets:
            keys: ["ticket:{id}:{ticket_price}:{discount}"]
            tags: ["owner:{owner_id}"]
            secondDelete: 2s
            leases: true
        """;

    private static readonly RuleSet ShapeRules = RulesLoader.LoadFile(RecordShapes.RulesPath);
    private static readonly RuleSet Fixtures = RulesLoader.Parse(FixtureRules, "fixture-rules.yaml");
    private static readonly RuleSet Consistency = RulesLoader.Parse(ConsistencyRules, "consistency-rules.yaml");

    // Each test's own decoder, shared by both paths as in the worker: a record read twice meets its topic's remembered schema.
    private readonly DebeziumDecoder _decoder = new();

    public static TheoryData<string> ShapeNames() => [.. RecordShapes.Names()];

    /// <summary>
    /// The record shapes and fixtures the one-pass path leaves to the full path by design: record kinds that are no row
    /// change (schema changes, transaction markers, heartbeats), the kinds only a whole change serves (tombstones, MongoDB
    /// documents, a rewritten delete of a table that does not state its replica identity), tables without a rule, and
    /// records the full path refuses. Every other one it must plan itself (the decoder's one read serves both paths): so a
    /// one-pass path that declined everything (and compared nothing) fails these tests.
    /// </summary>
    private static readonly HashSet<string> LeftToTheFullPath = new(StringComparer.Ordinal)
    {
        "class1-unwrapped-rewrite-delete-with-envelope-names.json",
        "class11-mongodb-create-with-objectid.json",
        "class11-mongodb-delete-without-pre-image.json",
        "class11-mongodb-update-changed-fields-only.json",
        "class11-mongodb-update-with-pre-and-post-images.json",
        "class2-envelope-with-unknown-op.json",
        "class3-transaction-metadata-on-a-renamed-topic.json",
        "class4-tombstone-with-key-schema.json",
        "class4-unwrap-tombstone.json",
        "class5-decimal-with-schema-beyond-its-scale.json",
        "class7-heartbeat-by-schema-name.json",
        "class7-heartbeat-on-a-renamed-topic.json",
        "class8-schema-change-flink-cdc-history-record.json",
        "class8-schema-change-mysql.json",
        "class8-schema-change-sqlserver-with-schema.json",
        "format-envelope-stated-rejects-a-row.json",
        "mysql-tombstone-legacy-envelope-tutorial.json",
        "pg-message-nontransactional-docs.json",
        "pg-message-transactional-schemaless.json",
        "pg-tx-begin-docs.json",
        "pg-tx-end-docs.json",
        "unwrap-rewrite-delete-deleted-true-pg.json",
        "unwrap-rewrite-delete-docs-fragment.json",
        "unwrap-schema-arrays-pg.json",
        "unwrap-schema-rewrite-mode-pg.json",
    };

    public static TheoryData<string> FixtureNames() => [.. DebeziumFixtures.Names()];

    [Theory]
    [MemberData(nameof(ShapeNames))]
    public void Every_record_shape_plans_as_the_full_path_does(string name)
    {
        var shape = RecordShapes.Load(name);
        Assert.Equal(!LeftToTheFullPath.Contains(name), Compare(ShapeRules, shape.Topic, shape.Key, shape.Value));
    }

    [Theory]
    [MemberData(nameof(FixtureNames))]
    public void Every_debezium_fixture_plans_as_the_full_path_does(string name)
    {
        var fixture = DebeziumFixtures.Load(name);
        // Twice: the second read of a schema-enabled record skips its schema, which must change nothing.
        Assert.Equal(!LeftToTheFullPath.Contains(name), Compare(Fixtures, fixture.Topic, fixture.Key, fixture.Value));
        Assert.Equal(!LeftToTheFullPath.Contains(name), Compare(Fixtures, fixture.Topic, fixture.Key, fixture.Value));
    }

    [Theory]
    [MemberData(nameof(FixtureNames))]
    public void Every_debezium_fixture_plans_as_the_full_path_does_with_second_deletes_leases_and_shadow_rules(string name)
    {
        var fixture = DebeziumFixtures.Load(name);
        Assert.Equal(!LeftToTheFullPath.Contains(name), Compare(Consistency, fixture.Topic, fixture.Key, fixture.Value));
        Assert.Equal(!LeftToTheFullPath.Contains(name), Compare(Consistency, fixture.Topic, fixture.Key, fixture.Value));
    }

    [Theory]
    [MemberData(nameof(FixtureNames))]
    public void Every_debezium_fixture_plans_as_the_full_path_does_in_shadow_mode(string name)
    {
        var fixture = DebeziumFixtures.Load(name);
        Assert.Equal(!LeftToTheFullPath.Contains(name), Compare(Consistency, fixture.Topic, fixture.Key, fixture.Value, shadowAll: true));
        Assert.Equal(!LeftToTheFullPath.Contains(name), Compare(Fixtures, fixture.Topic, fixture.Key, fixture.Value, shadowAll: true));
    }

    [Fact]
    public void Second_delete_shadow_and_live_rules_share_a_batch_as_the_full_path_s_plans_do()
    {
        // Many records into one batch each way: names repeated across tables and delays end up where the plans put them.
        var fastBatch = new InvalidationBatch();
        var slowBatch = new InvalidationBatch();
        var planner = new OnePassPlanner(new InvalidationPlanner(Consistency), Consistency, _decoder);
        var shadowed = 0;
        foreach (var name in DebeziumFixtures.Names())
        {
            var fixture = DebeziumFixtures.Load(name);
            var decoded = _decoder.Decode(fixture.Topic, fixture.Key, fixture.Value, Consistency.DecoderHints);
            if (decoded.Change is not { } change)
            {
                continue;
            }

            var planned = planner.TryPlan(fixture.Topic, fixture.Key, fixture.Value, fastBatch, out var fast)
                ? fast
                : planner.Plan(change, fastBatch);
            var plan = new InvalidationPlanner(Consistency).Plan(change);
            if (IsShadow(Consistency, change.Table, plan, shadowAll: false))
            {
                Assert.NotNull(planned.Shadow);
                shadowed++;
            }
            else
            {
                Assert.Null(planned.Shadow);
                slowBatch.Add(plan);
            }
        }

        Assert.True(shadowed > 0);
        Assert.NotEmpty(slowBatch.SecondDeletes);
        Assert.NotNull(slowBatch.ReplicaWaits);
        AssertSameBatch(slowBatch, fastBatch);
    }

    [Theory]
    [InlineData("pg-update-full-before-schema.json")]
    [InlineData("pg-update-full-before-schemaless.json")]
    [InlineData("pg-update-toast-unavailable-value.json")]
    [InlineData("pg-create-schema-docs.json")]
    [InlineData("pg-update-decimal-base64-zonedtimestamp.json")]
    [InlineData("pg-update-before-null-default-identity.json")]
    public void The_common_envelopes_take_the_one_pass_path(string name)
    {
        var fixture = DebeziumFixtures.Load(name);
        Assert.True(Compare(Fixtures, fixture.Topic, fixture.Key, fixture.Value));
    }

    [Fact]
    public void A_topic_whose_schema_changes_is_read_with_the_new_schema()
    {
        // The same topic first with a schema that declares no decimal, then one whose ticket_price is a Decimal.
        var decimalFixture = DebeziumFixtures.Load("pg-update-decimal-base64-zonedtimestamp.json");
        var topic = "schema-change.public.tickets"; // the test's own decoder: no other test has met this topic
        var plain = Encoding.UTF8.GetString(decimalFixture.Value).Replace("org.apache.kafka.connect.data.Decimal", "org.example.NotADecimal", StringComparison.Ordinal);
        Assert.True(Compare(Fixtures, topic, decimalFixture.Key, Encoding.UTF8.GetBytes(plain)));
        Assert.True(Compare(Fixtures, topic, decimalFixture.Key, decimalFixture.Value));
        Assert.True(Compare(Fixtures, topic, decimalFixture.Key, Encoding.UTF8.GetBytes(plain)));
    }

    [Theory]
    // a column the rule does not use appears twice: the full path refuses the record
    [InlineData("""{"before":null,"after":{"id":1,"email":"a@x","note":"n","note":"m"},"source":{"schema":"public","table":"customers"},"op":"c"}""")]
    // an unused column's text is not UTF-8 once unescaped (a lone surrogate)
    [InlineData("""{"before":null,"after":{"id":1,"email":"a@x","note":"\ud800"},"source":{"schema":"public","table":"customers"},"op":"c"}""")]
    // an escaped column name
    [InlineData("""{"before":null,"after":{"id":1,"em\u0061il":"A@X"},"source":{"schema":"public","table":"customers"},"op":"c"}""")]
    // escaped text in a used column
    [InlineData("""{"before":null,"after":{"id":1,"email":"A\u0040X\"y"},"source":{"schema":"public","table":"customers"},"op":"c"}""")]
    // a used column that is a structure, a number, a boolean
    [InlineData("""{"before":{"id":{"a":[1, 2]},"email":true},"after":{"id":1.50,"email":false},"source":{"schema":"public","table":"customers"},"op":"u"}""")]
    // rows that are not objects
    [InlineData("""{"before":"x","after":{"id":1,"email":"a@x"},"source":{"schema":"public","table":"customers"},"op":"u"}""")]
    // unknown op, no op, a truncate, a table without a rule
    [InlineData("""{"before":null,"after":{"id":1,"email":"a@x"},"source":{"schema":"public","table":"customers"},"op":"x"}""")]
    [InlineData("""{"before":null,"after":{"id":1,"email":"a@x"},"source":{"schema":"public","table":"customers"}}""")]
    [InlineData("""{"before":null,"after":null,"source":{"schema":"public","table":"customers"},"op":"t"}""")]
    [InlineData("""{"before":null,"after":{"id":1,"email":"a@x"},"source":{"schema":"public","table":"nothing"},"op":"c"}""")]
    // a delete with only the key to render from, and a wrapper with something after its payload
    [InlineData("""{"before":null,"after":null,"source":{"schema":"public","table":"customers"},"op":"d"}""")]
    [InlineData("""{"schema":{"type":"struct"},"payload":{"before":null,"after":{"id":1,"email":"a@x"},"source":{"schema":"public","table":"customers"},"op":"c"},"extra":1}""")]
    [InlineData("""{"schema":{"type":"struct"},"payload":{"before":null,"after":{"id":1,"email":"a@x"},"source":{"schema":"public","table":"customers"},"op":"c"}} x""")]
    public void Unusual_records_give_what_the_full_path_gives(string value)
    {
        var topic = "odd.public.customers";
        var bytes = Encoding.UTF8.GetBytes(value);
        // Twice, so a wrapped value also meets its remembered schema.
        Compare(Fixtures, topic, Encoding.UTF8.GetBytes("""{"id":7}"""), bytes);
        Compare(Fixtures, topic, Encoding.UTF8.GetBytes("""{"id":7}"""), bytes);
    }

    [Fact]
    public void Text_that_is_not_utf8_in_an_unused_column_is_left_to_the_full_path()
    {
        var value = Encoding.UTF8.GetBytes("""{"before":null,"after":{"id":1,"email":"a@x","note":"??"},"source":{"schema":"public","table":"customers"},"op":"c"}""");
        var at = Array.IndexOf(value, (byte)'?');
        value[at] = 0xC3;
        value[at + 1] = 0x28; // an invalid two-byte sequence
        Assert.False(Compare(Fixtures, "bad-utf8.public.customers", [], value));
    }

    [Fact]
    public void Many_generated_records_with_and_without_schemas_take_the_one_pass_path()
    {
        var rules = RulesLoader.Parse("""
            tables:
              public.customers:
                keys: ["customer:{id}", "customer:email:{email|lower}"]
                tags: ["tenant:{tenant_id}"]
            """, "generated.yaml");
        foreach (var withSchema in new[] { false, true })
        {
            for (var id = 1; id <= 50; id++)
            {
                var (key, value) = Generated(id, withSchema);
                Assert.True(Compare(rules, "gen.public.customers", key, value));
            }
        }
    }

    [Theory]
    [MemberData(nameof(FixtureNames))]
    public void A_decoded_change_planned_into_the_batch_gives_the_plan_s_names(string name)
    {
        var fixture = DebeziumFixtures.Load(name);
        if (new DebeziumDecoder().Decode(fixture.Topic, fixture.Key, fixture.Value, Fixtures.DecoderHints).Change is not { } change)
        {
            return;
        }

        foreach (var rules in new[] { Fixtures, Consistency })
        {
            foreach (var shadowAll in new[] { false, true })
            {
                var plan = new InvalidationPlanner(rules).Plan(change);
                var batch = new InvalidationBatch();
                var planned = new OnePassPlanner(rules).Plan(change, batch, shadowAll);
                Assert.Equal(plan.Outcome, planned.Outcome);
                Assert.Equal(plan.Unresolved, planned.Unresolved);
                AssertSameShadow(rules, change.Table, plan, shadowAll, planned, batch);
            }
        }
    }

    /// <summary>Compares the two paths on one record; true when the one-pass path took it.</summary>
    private bool Compare(RuleSet rules, string topic, byte[] key, byte[] value, bool shadowAll = false)
    {
        var fastBatch = new InvalidationBatch();
        var taken = new OnePassPlanner(new InvalidationPlanner(rules), rules, _decoder).TryPlan(topic, key, value, fastBatch, out var fast, shadowAll);
        if (!taken)
        {
            Assert.True(fastBatch.IsEmpty);
            Assert.Equal(0, fastBatch.PlanCount);
            return false;
        }

        var decoded = _decoder.Decode(topic, key, value, rules.DecoderHints);
        Assert.Equal(RecordKind.Change, decoded.Kind);
        var change = decoded.Change!;
        var plan = new InvalidationPlanner(rules).Plan(change);

        Assert.Equal(change.Table, fast.Table);
        Assert.Equal(change.Operation, fast.Operation);
        Assert.Equal(change.CommitTime, fast.CommitTime);
        Assert.Equal(plan.Outcome, fast.Outcome);
        Assert.Equal(plan.Unresolved, fast.Unresolved);
        AssertSameShadow(rules, change.Table, plan, shadowAll, fast, fastBatch);
        return true;
    }

    /// <summary>
    /// As <c>RecordIntake</c> decides on the full path: an invalidating plan of a shadow rule (or any, in shadow
    /// mode) is counted and not added to the batch.
    /// </summary>
    private static bool IsShadow(RuleSet rules, string table, InvalidationPlan plan, bool shadowAll) =>
        plan.Outcome == PlanOutcome.Invalidate && (shadowAll || (rules.TryGetRule(table, out var rule) && rule.Shadow));

    private static void AssertSameShadow(RuleSet rules, string table, InvalidationPlan plan, bool shadowAll, RecordPlan fast, InvalidationBatch fastBatch)
    {
        var slowBatch = new InvalidationBatch();
        if (IsShadow(rules, table, plan, shadowAll))
        {
            var shadow = Assert.NotNull(fast.Shadow);
            Assert.Equal(plan.Keys.Count, shadow.Keys);
            Assert.Equal(plan.Tags.Count, shadow.Tags);
            Assert.Equal(plan.Keys.Count > 0 ? "key " + plan.Keys[0] : plan.Tags.Count > 0 ? "tag " + plan.Tags[0] : null, shadow.Example);
        }
        else
        {
            Assert.Null(fast.Shadow);
            slowBatch.Add(plan);
        }

        AssertSameBatch(slowBatch, fastBatch);
    }

    private static void AssertSameBatch(InvalidationBatch expected, InvalidationBatch actual)
    {
        Assert.Equal(Sorted(expected.Keys), Sorted(actual.Keys));
        Assert.Equal(Sorted(expected.Tags), Sorted(actual.Tags));
        Assert.Equal(Sorted(expected.LeaseKeys), Sorted(actual.LeaseKeys));
        Assert.Equal(Sorted(expected.LeaseTags), Sorted(actual.LeaseTags));
        Assert.Equal(expected.SecondDeletes.Keys.Order(), actual.SecondDeletes.Keys.Order());
        foreach (var (delay, names) in expected.SecondDeletes)
        {
            Assert.Equal(Sorted(names.Keys), Sorted(actual.SecondDeletes[delay].Keys));
            Assert.Equal(Sorted(names.Tags), Sorted(actual.SecondDeletes[delay].Tags));
        }

        Assert.Equal(Sorted(expected.ReplicaWaits?.Keys ?? Enumerable.Empty<string>()), Sorted(actual.ReplicaWaits?.Keys ?? Enumerable.Empty<string>()));
        Assert.Equal(Sorted(expected.ReplicaWaits?.Tags ?? Enumerable.Empty<string>()), Sorted(actual.ReplicaWaits?.Tags ?? Enumerable.Empty<string>()));
        Assert.Equal(expected.NamesBeforeDeduplication, actual.NamesBeforeDeduplication);
        Assert.Equal(expected.PlanCount, actual.PlanCount);
    }

    private static List<string> Sorted(IEnumerable<string> names) => [.. names.Order(StringComparer.Ordinal)];

    private static (byte[] Key, byte[] Value) Generated(int id, bool withSchema)
    {
        var row = $$"""{"id":{{id}},"first_name":"Anne","email":"{{(id % 3 == 0 ? "Same" : "Old" + id)}}@Example.com","tenant_id":{{id % 4}},"notes":null}""";
        var after = row.Replace($"Old{id}", $"new{id}", StringComparison.Ordinal);
        var payload = $$"""{"before":{{row}},"after":{{after}},"source":{"version":"2.7.3.Final","connector":"postgresql","ts_ms":1700000000000,"ts_us":{{1_700_000_000_000_000L + id}},"schema":"public","table":"customers","txId":{{id}},"lsn":{{id * 8}}},"transaction":null,"op":"u","ts_ms":1700000000007}""";
        var key = $$"""{"id":{{id}}}""";
        if (withSchema)
        {
            const string rowSchema = """{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},{"type":"string","optional":false,"field":"first_name"},{"type":"string","optional":false,"field":"email"},{"type":"int32","optional":true,"field":"tenant_id"},{"type":"string","optional":true,"field":"notes"}],"optional":true,"name":"gen.public.customers.Value","field":"ROW"}""";
            var schema = $$"""{"type":"struct","fields":[{{rowSchema.Replace("ROW", "before", StringComparison.Ordinal)}},{{rowSchema.Replace("ROW", "after", StringComparison.Ordinal)}},{"type":"string","optional":false,"field":"op"}],"optional":false,"name":"gen.public.customers.Envelope"}""";
            payload = $$"""{"schema":{{schema}},"payload":{{payload}}}""";
            key = $$"""{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}],"optional":false,"name":"gen.public.customers.Key"},"payload":{{key}}}""";
        }

        return (Encoding.UTF8.GetBytes(key), Encoding.UTF8.GetBytes(payload));
    }
}
