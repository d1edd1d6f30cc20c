using System.Text;
using System.Text.Json;
using Invalidator.Core.ChangeEvents;

namespace Invalidator.Core.Tests.ChangeEvents;

public class DebeziumDecoderTests
{
    private const string Topic = "dbserver1.public.customers";
    private const string Unavailable = "__debezium_unavailable_value";

    // Each test's own decoder: its caches are the test's alone.
    private readonly DebeziumDecoder _decoder = new();

    // ---- every fixture in shared/fixtures/debezium, with what it shows ----

    public static TheoryData<string> FixtureNames() => [.. DebeziumFixtures.Names()];

    [Theory]
    [MemberData(nameof(FixtureNames))]
    public void Fixture_decodes_to_what_it_shows(string name)
    {
        Assert.True(FixtureExpectations.TryGetValue(name, out var expect), $"{name} has no expectations: add them to {nameof(FixtureExpectations)}.");
        var fixture = DebeziumFixtures.Load(name);

        expect(new DebeziumDecoder().Decode(fixture.Topic, fixture.Key, fixture.Value));
    }

    [Fact]
    public void Every_expectation_has_its_fixture()
    {
        Assert.Empty(FixtureExpectations.Keys.Except(DebeziumFixtures.Names()));
    }

    private static readonly Dictionary<string, Action<DecodedRecord>> FixtureExpectations = new()
    {
        ["mysql-delete-key-and-value-schema.json"] = record =>
        {
            var e = AssertChange(record, "inventory.customers", ChangeOperation.Delete, Micros(1718486007000000));
            AssertRow(e.Before, ("id", "1004"), ("first_name", "Anne"), ("last_name", "Kretchmar"), ("email", "annek@noanswer.org"));
            Assert.Equal(4, e.Before!.Count);
            Assert.Null(e.After);
            AssertRow(e.Key, ("id", "1004"));
            Assert.Equal(1, e.Key!.Count);
        },
        ["mysql-tombstone-legacy-envelope-tutorial.json"] = record =>
        {
            // The delete of the topic's table that only the record key describes: its keys are the key image's.
            Assert.Equal(RecordKind.Tombstone, record.Kind);
            var e = Assert.IsType<ChangeEvent>(record.Change);
            Assert.Equal(("inventory.customers", ChangeOperation.Delete), (e.Table, e.Operation));
            Assert.Null(e.Before);
            Assert.Null(e.After);
            AssertRow(e.Key, ("id", "1004"));
            Assert.Equal(1, e.Key!.Count);
        },
        ["mysql-update-schemaless-engine.json"] = record =>
        {
            var e = AssertChange(record, "inventory.customers", ChangeOperation.Update, Micros(1731327659000000));
            AssertRow(e.Before, ("id", "1001"), ("first_name", "Sally"), ("last_name", "Thomas"), ("email", "sally.thomas@acme.com"));
            AssertRow(e.After, ("id", "1001"), ("first_name", "Sarah"), ("last_name", "Thomas"), ("email", "sally.thomas@acme.com"));
            Assert.Null(e.Key);
        },
        ["pg-create-schema-docs.json"] = record =>
        {
            var e = AssertChange(record, "public.customers", ChangeOperation.Create, Micros(1559033904863123));
            Assert.Null(e.Before);
            AssertRow(e.After, ("id", "1"), ("first_name", "Anne"), ("last_name", "Kretchmar"), ("email", "annek@noanswer.org"));
            AssertRow(e.Key, ("id", "1")); // the docs key writes the id as a string
        },
        ["pg-create-schemaless.json"] = record =>
        {
            var e = AssertChange(record, "inventory.products", ChangeOperation.Create, Millis(1596010946488));
            Assert.Null(e.Before);
            AssertRow(e.After, ("id", "110"), ("name", "jacket"), ("description", "water resistent white wind breaker"), ("weight", "0.2"));
        },
        ["pg-delete-default-identity.json"] = record =>
        {
            var e = AssertChange(record, "public.profile", ChangeOperation.Delete, Millis(1699905639266));
            AssertRow(e.Before, ("id", "1"), ("name", null), ("color", null));
            Assert.Null(e.After);
        },
        ["pg-delete-full-before-schema.json"] = record =>
        {
            var e = AssertChange(record, "inventory.products", ChangeOperation.Delete, Millis(1596010988168));
            AssertRow(e.Before, ("id", "111"), ("name", "scooter"), ("description", "Big 2-wheel scooter "), ("weight", "5.17"));
            Assert.Null(e.After);
        },
        ["pg-delete-full-before-schemaless.json"] = record =>
        {
            var e = AssertChange(record, "inventory.products", ChangeOperation.Delete, Millis(1596010988168));
            AssertRow(e.Before, ("id", "111"), ("name", "scooter"), ("description", "Big 2-wheel scooter "), ("weight", "5.17"));
            Assert.Null(e.After);
        },
        ["pg-message-nontransactional-docs.json"] = record =>
        {
            // source.schema and source.table are empty for messages, so the table comes from the topic.
            var e = AssertChange(record, "PostgreSQL_server.message", ChangeOperation.Message, Micros(1559033904863762));
            Assert.Equal("foo", e.MessagePrefix);
            Assert.Equal("Ymfy", e.MessageContent); // bytes 62 67 F2 are not UTF-8: kept as base64
            Assert.Null(e.Before);
            Assert.Null(e.After);
        },
        ["pg-message-transactional-schemaless.json"] = record =>
        {
            var e = AssertChange(record, "connector-name.message", ChangeOperation.Message, Micros(1723115239782690));
            Assert.Equal("test-prefix", e.MessagePrefix);
            Assert.Equal("""{"id": 1, "item": "Debezium in Action", "status": "ENTERED", "quantity": 2, "totalPrice": 39.98}""", e.MessageContent);
            AssertRow(e.Key, ("prefix", "test-prefix"));
        },
        ["pg-snapshot-read-first-schema.json"] = record =>
        {
            var e = AssertChange(record, "public.users", ChangeOperation.Read, Micros(1715071299083564));
            Assert.Null(e.Before);
            AssertRow(e.After, ("id", "1"), ("name", "John Doe"), ("email", "john@example.com"), ("age", "30"));
        },
        ["pg-snapshot-read-last-schema.json"] = record =>
        {
            var e = AssertChange(record, "public.users", ChangeOperation.Read, Micros(1715071299083564));
            AssertRow(e.After, ("id", "4"), ("name", "Bob Brown"), ("email", "bob@example.com"), ("age", "40"));
        },
        ["pg-snapshot-read-last-schemaless.json"] = record =>
        {
            var e = AssertChange(record, "public.orders", ChangeOperation.Read, Millis(1685975423896));
            AssertRow(e.After, ("order_id", "3"), ("order_date", "1558430840002"), ("customer_name", "Alice"),
                ("price", null), ("product_id", "2"), ("order_status", "1"));
        },
        ["pg-transaction-block-decimal-string.json"] = record =>
        {
            var e = AssertChange(record, "public.orders_tx", ChangeOperation.Create, Millis(1704355505506));
            Assert.Null(e.Before);
            AssertRow(e.After, ("customer_name", "a1"), ("order_date", "2020-01-30"), ("order_id", "10021"),
                ("order_status", "false"), ("price", "50.50"), ("product_id", "102"));
        },
        ["pg-truncate-docs.json"] = record =>
        {
            var e = AssertChange(record, "public.customers", ChangeOperation.Truncate, Micros(1559033904863112));
            Assert.Null(e.Before);
            Assert.Null(e.After);
            Assert.Null(e.Key);
        },
        ["pg-tx-begin-docs.json"] = record => Assert.Equal(DecodedRecord.TransactionMetadata, record),
        ["pg-tx-end-docs.json"] = record => Assert.Equal(DecodedRecord.TransactionMetadata, record),
        ["pg-types-numeric-double-mode.json"] = record =>
        {
            var e = AssertChange(record, "public.orders", ChangeOperation.Read, Millis(1684404343201));
            AssertRow(e.After, ("o_key", "0"), ("o_smallint", "32767"), ("o_integer", "2147483647"),
                ("o_bigint", "9223372036854775807"), ("o_real", "9.999"), ("o_double", "9.999999"),
                ("o_numeric", "123456.789"), ("o_numeric_6_3", "123.456"), ("o_money", "123.12"));
        },
        ["pg-types-temporal.json"] = record =>
        {
            var e = AssertChange(record, "public.orders", ChangeOperation.Read, Millis(1684733351963));
            AssertRow(e.After, ("o_time_0", "40271000000"), ("o_time_6", "40271000010"), ("o_timez_0", "11:11:11Z"),
                ("o_timez_6", "11:11:11.00001Z"), ("o_timestamp_0", "1321009871000"), ("o_timestamp_6", "1321009871123456"),
                ("o_timestampz_0", "2011-11-11T03:11:11Z"), ("o_timestampz_6", "2011-11-11T03:11:11.123456Z"),
                ("o_interval", "P1Y2M3DT4H5M6.78S"), ("o_date", "1999-09-09"));
        },
        ["pg-types-uuid-jsonb-bytea-misc.json"] = record =>
        {
            var e = AssertChange(record, "public.orders", ChangeOperation.Read, Millis(1684743927178));
            AssertRow(e.After, ("o_key", "1"), ("o_boolean", "false"), ("o_bit", "true"), ("o_bytea", "ASNFZ4mrze8="),
                ("o_json", """{"k1": "v1", "k2": 11}"""), ("o_xml", "<!--hahaha-->"),
                ("o_uuid", "60f14fe2-f857-404a-b586-3b5375b3259f"),
                ("o_point", """{"x":1.0,"y":2.0,"wkb":"AQEAAAAAAAAAAADwPwAAAAAAAABA","srid":null}"""),
                ("o_enum", "polar"), ("o_char", "h"), ("o_character_varying", "hahaha"));
        },
        ["pg-update-before-null-default-identity.json"] = record =>
        {
            var e = AssertChange(record, "public.profile", ChangeOperation.Update, Millis(1699905639249));
            Assert.Null(e.Before);
            AssertRow(e.After, ("id", "1"), ("name", "Joe"), ("color", "red"));
        },
        ["pg-update-decimal-base64-zonedtimestamp.json"] = record =>
        {
            var e = AssertChange(record, "public.tickets", ChangeOperation.Update, Millis(1709141609404));
            Assert.Null(e.Before);
            // Schemaless: nothing says these are decimals, so the base64 stays as written.
            AssertRow(e.After, ("ticket_price", "Dzw="), ("surcharge_applied", "ASw="), ("discount", "AA=="),
                ("id", "1111"), ("owner_id", "1234"), ("is_transferable", "true"), ("extra", "{}"),
                ("date_modified", "2024-02-23T08:52:45.519039Z"), ("status", "1"));
        },
        ["pg-update-full-before-schema.json"] = record =>
        {
            var e = AssertChange(record, "inventory.products", ChangeOperation.Update, Millis(1596010982228));
            AssertRow(e.Before, ("id", "110"), ("description", "water resistent white wind breaker"), ("weight", "0.2"));
            AssertRow(e.After, ("id", "110"), ("description", "new water resistent white wind breaker"), ("weight", "0.5"));
        },
        ["pg-update-full-before-schemaless.json"] = record =>
        {
            var e = AssertChange(record, "inventory.products", ChangeOperation.Update, Millis(1596010889629));
            AssertRow(e.Before, ("id", "106"), ("name", "hammer"), ("description", "16oz carpenter's hammer"), ("weight", "1.0"));
            AssertRow(e.After, ("id", "106"), ("name", "hammer"), ("description", "18oz carpenter hammer"), ("weight", "1.0"));
        },
        ["pg-update-toast-unavailable-value.json"] = record =>
        {
            var e = AssertChange(record, "inventory.customers", ChangeOperation.Update, Millis(1570448151151));
            Assert.Null(e.Before);
            AssertRow(e.After, ("id", "1004"), ("first_name", "Dana"), ("email", "annek@noanswer.org"));
            AssertUnavailable(e.After, "biography");
        },
        ["unwrap-rewrite-delete-deleted-true-pg.json"] = record =>
        {
            var e = AssertChange(record, "public.mini_ticker", ChangeOperation.Delete, Millis(1659981418499));
            AssertRow(e.Before, ("id", "1"), ("current_time_millis", null), ("pair", null), ("volume", null));
            Assert.Equal(7, e.Before!.Count); // __source_ts_ms and __deleted are stripped
            Assert.Null(e.After);
        },
        ["unwrap-rewrite-delete-docs-fragment.json"] = record =>
        {
            var e = AssertChange(record, "public.example", ChangeOperation.Delete, null);
            AssertRow(e.Before, ("pk", "2"), ("cola", null));
            Assert.Equal(2, e.Before!.Count);
            Assert.Null(e.After);
        },
        ["unwrap-schema-arrays-pg.json"] = record =>
        {
            var e = AssertChange(record, "inventory.array_data", ChangeOperation.Create, Millis(1638128893618));
            Assert.Null(e.Before);
            AssertRow(e.After, ("name", "Bill"), ("pay_by_quarter", "[10000,10001,10002,10003]"),
                ("schedule", """["[Ljava.lang.String;@508917a0","[Ljava.lang.String;@7412bd2"]"""));
            Assert.Equal(new[] { "name", "pay_by_quarter", "schedule" }, e.After!.ColumnNames.Order(StringComparer.Ordinal));
        },
        ["unwrap-schema-rewrite-mode-pg.json"] = record =>
        {
            var e = AssertChange(record, "inventory.orders", ChangeOperation.Read, Millis(1596309876678));
            AssertRow(e.After, ("id", "10003"), ("order_date", "16850"), ("purchaser", "1002"), ("quantity", "2"), ("product_id", "106"));
            Assert.Equal(5, e.After!.Count);
        },
    };

    // ---- record kinds ----

    [Fact]
    public void Empty_value_is_a_tombstone_that_deletes_its_key()
    {
        var record = Decode(Topic, """{"id":1}""", "");

        Assert.Equal(RecordKind.Tombstone, record.Kind);
        Assert.Equal(("public.customers", ChangeOperation.Delete), (record.Change!.Table, record.Change.Operation));
        AssertRow(record.Change.Key, ("id", "1"));
    }

    [Theory]
    [InlineData("""{"schema":null,"payload":null}""")]
    [InlineData("""{"payload":null}""")]
    [InlineData("null")]
    public void Null_renderings_are_tombstones(string value)
    {
        var record = Decode(Topic, "", value);

        Assert.Equal(RecordKind.Tombstone, record.Kind);
        Assert.Equal(new ChangeEvent("public.customers", ChangeOperation.Delete, null, null, null, null), record.Change);
    }

    [Theory]
    [InlineData("""{"ts_ms":1589355606100}""")]
    [InlineData("""{"schema":{"type":"struct","name":"io.debezium.connector.common.Heartbeat"},"payload":{"ts_ms":1}}""")]
    [InlineData("")]
    [InlineData("not json at all")]
    public void Heartbeat_topic_is_a_heartbeat_whatever_the_value(string value) =>
        Assert.Equal(DecodedRecord.Heartbeat, Decode("__debezium-heartbeat.dbserver1", """{"serverName":"dbserver1"}""", value));

    [Fact]
    public void Transaction_topic_is_transaction_metadata() =>
        Assert.Equal(
            DecodedRecord.TransactionMetadata,
            Decode("dbserver1.transaction", """{"id":"571:53195829"}""", """{"status":"BEGIN","id":"571:53195829","event_count":null}"""));

    [Theory]
    [InlineData("""{"status":"BEGIN","id":"571:53195829","ts_ms":1486500577125,"event_count":null,"data_collections":null}""")]
    [InlineData("""{"schema":null,"payload":{"status":"END","id":"35352:3962948040","event_count":1,"data_collections":[{"data_collection":"public.orders_tx","event_count":1}]}}""")]
    public void Transaction_metadata_is_recognised_on_any_topic(string value) =>
        Assert.Equal(DecodedRecord.TransactionMetadata, Decode(Topic, "", value));

    // ---- column rendering ----

    [Theory]
    [InlineData("\"__debezium_unavailable_value\"")]
    [InlineData("\"X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ==\"")]
    [InlineData("[\"__debezium_unavailable_value\"]")]
    [InlineData("[\"X19kZWJleml1bV91bmF2YWlsYWJsZV92YWx1ZQ==\"]")]
    public void Unavailable_placeholder_is_never_a_value(string json)
    {
        var e = DecodeChange(Envelope("u", after: $$$"""{"id":1,"bio":{{{json}}}}"""));

        AssertUnavailable(e.After, "bio");
        AssertRow(e.After, ("id", "1"));
    }

    [Fact]
    public void Arrays_that_merely_contain_the_placeholder_are_values()
    {
        var e = DecodeChange(Envelope("u", after: $$$"""{"tags":["{{{Unavailable}}}","x"]}"""));

        AssertRow(e.After, ("tags", $$$"""["{{{Unavailable}}}","x"]"""));
    }

    [Fact]
    public void Bigint_beyond_2_pow_53_renders_exactly()
    {
        var e = DecodeChange(Envelope("c", after: """{"id":9223372036854775807,"neg":-9223372036854775808,"big":123456789012345678901234567890}"""));

        AssertRow(e.After, ("id", "9223372036854775807"), ("neg", "-9223372036854775808"), ("big", "123456789012345678901234567890"));
    }

    [Fact]
    public void Numbers_keep_their_spelling()
    {
        var e = DecodeChange(Envelope("c", after: """{"a":1.50,"b":1e3,"c":-0.0,"d":"50.50"}"""));

        AssertRow(e.After, ("a", "1.50"), ("b", "1e3"), ("c", "-0.0"), ("d", "50.50"));
    }

    [Fact]
    public void Strings_are_unescaped_and_nested_json_is_compacted()
    {
        var e = DecodeChange(Envelope("c", after: """
            {
              "s": "a\"b\u00e9\\ c",
              "doc": { "k": [1, 2, { "x": "keep  spaces" }], "e": "\u00e9" },
              "empty": [ ]
            }
            """));

        AssertRow(e.After, ("s", "a\"b\u00e9\\ c"), ("doc", """{"k":[1,2,{"x":"keep  spaces"}],"e":"\u00e9"}"""), ("empty", "[]"));
    }

    [Fact]
    public void Escaped_column_names_are_unescaped()
    {
        var e = DecodeChange(Envelope("c", after: """{"na\u006de":"x","\u00e9t\u00e9":1}"""));

        AssertRow(e.After, ("name", "x"), ("\u00e9t\u00e9", "1"));
    }

    [Fact]
    public void Names_are_reused_from_record_to_record()
    {
        var first = DecodeChange(Envelope("c", after: """{"customer_id":1}"""));
        var second = DecodeChange(Envelope("c", after: """{"customer_id":2}"""));

        Assert.Same(first.Table, second.Table);
        Assert.Same(first.After!.ColumnNames.Single(), second.After!.ColumnNames.Single());
    }

    [Theory]
    [InlineData("AdTA", 2, "1200.00")]      // 0x01D4C0 = 120000
    [InlineData("/itA", 2, "-1200.00")]     // 0xFE2B40 = -120000
    [InlineData("/w==", 2, "-0.01")]
    [InlineData("AA==", 2, "0.00")]
    [InlineData("Dzw=", 2, "39.00")]
    [InlineData("ASw=", 3, "0.300")]
    [InlineData("AdTA", 0, "120000")]
    [InlineData("AdTA", 7, "0.0120000")]
    [InlineData("Dzw\\u003d", 2, "39.00")] // Gson escapes '='
    public void Precise_decimal_uses_the_scale_from_the_schema(string base64, int scale, string expected)
    {
        var value = $$$"""
            {"schema":{"type":"struct","fields":[
                {"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},{{{DecimalField("price", scale)}}}],"optional":true,"name":"s.public.t.Value","field":"before"},
                {"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"},{{{DecimalField("price", scale)}}}],"optional":true,"name":"s.public.t.Value","field":"after"},
                {"type":"string","optional":false,"field":"op"}],"optional":false,"name":"s.public.t.Envelope"},
             "payload":{"before":{"id":1,"price":"{{{base64}}}"},"after":{"id":1,"price":"{{{base64}}}"},"op":"u"}}
            """;

        var e = DecodeChange(value);

        AssertRow(e.Before, ("id", "1"), ("price", expected));
        AssertRow(e.After, ("id", "1"), ("price", expected));
    }

    [Fact]
    public void Precise_decimal_in_an_unwrapped_row_and_in_a_key()
    {
        var key = $$$"""{"schema":{"type":"struct","fields":[{{{DecimalField("code", 1)}}}],"optional":false,"name":"s.public.t.Key"},"payload":{"code":"AdTA"}}""";
        var value = $$$"""{"schema":{"type":"struct","fields":[{{{DecimalField("price", 2)}}},{"type":"string","optional":true,"field":"note"}],"optional":false,"name":"s.public.t.Value"},"payload":{"price":"AdTA","note":"AdTA","__op":"c"}}""";

        var e = DecodeChange(value, key);

        AssertRow(e.After, ("price", "1200.00"), ("note", "AdTA"));
        AssertRow(e.Key, ("code", "12000.0"));
    }

    [Fact]
    public void Decimal_column_that_is_not_base64_is_a_format_error()
    {
        var value = $$$"""{"schema":{"type":"struct","fields":[{{{DecimalField("price", 2)}}}],"optional":false},"payload":{"price":"not base64!"}}""";

        var ex = Assert.Throws<ChangeEventFormatException>(() => Decode(Topic, "", value));

        Assert.Contains("'price'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("base64", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"scale":2,"value":"AdTA"}""", "1200.00")]
    [InlineData("""{"value":"/itA","scale":2}""", "-1200.00")]
    [InlineData("""{"scale":0,"value":"AQ=="}""", "1")]
    [InlineData("""{"scale":2,"value":"AdTA","extra":1}""", """{"scale":2,"value":"AdTA","extra":1}""")]
    [InlineData("""{"scale":"2","value":"AdTA"}""", """{"scale":"2","value":"AdTA"}""")]
    public void Variable_scale_decimal_is_recognised_by_shape(string json, string expected)
    {
        var e = DecodeChange(Envelope("c", after: $$$"""{"n":{{{json}}}}"""));

        AssertRow(e.After, ("n", expected));
    }

    [Fact]
    public void Variable_scale_decimal_with_its_schema()
    {
        var value = """
            {"schema":{"type":"struct","fields":[{"type":"struct","fields":[{"type":"struct","fields":[{"type":"int32","optional":false,"field":"scale"},{"type":"bytes","optional":false,"field":"value"}],"optional":true,"name":"io.debezium.data.VariableScaleDecimal","version":1,"doc":"Variable scaled decimal","field":"amount"}],"optional":true,"field":"after"},{"type":"string","optional":false,"field":"op"}],"optional":false},
             "payload":{"after":{"amount":{"scale":3,"value":"AdTA"}},"op":"c"}}
            """;

        AssertRow(DecodeChange(value).After, ("amount", "120.000"));
    }

    // ---- envelope details ----

    [Fact]
    public void Wrapped_and_bare_keys_decode_alike()
    {
        var value = Envelope("d", before: """{"id":7}""");

        AssertRow(DecodeChange(value, """{"id":7}""").Key, ("id", "7"));
        AssertRow(DecodeChange(value, """{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}],"optional":false},"payload":{"id":7}}""").Key, ("id", "7"));
        Assert.Null(DecodeChange(value, "").Key);
        Assert.Null(DecodeChange(value, "null").Key);
    }

    [Theory]
    [InlineData("""{"schema":"public","table":"customers","db":"postgres"}""", "public.customers")]
    [InlineData("""{"db":"inventory","table":"customers"}""", "inventory.customers")]
    [InlineData("""{"schema":null,"db":"inventory","table":"orders"}""", "inventory.orders")]
    [InlineData("""{"schema":"","table":""}""", "public.customers")]
    [InlineData("null", "public.customers")]
    // Escaped names are the same names: the envelope's scan reads the source block as it passes, and reads it again
    // (unescaping) when a name is escaped.
    [InlineData("""{"sch\u0065ma":"public","t\u0061ble":"orders"}""", "public.orders")]
    [InlineData("""{"schema":"public","table":"orders","x\u0079":1}""", "public.orders")]
    [InlineData("""{"schema":"public","table":"orders","nested":{"table":"no","schema":"no"}}""", "public.orders")]
    public void Table_comes_from_source_or_else_the_topic(string source, string expected) =>
        Assert.Equal(expected, DecodeChange($$$"""{"op":"c","after":{"id":1},"source":{{{source}}}}""").Table);

    [Theory]
    [InlineData("a.b.c.d", "c.d")]
    [InlineData("schema.table", "schema.table")]
    [InlineData("table", "table")]
    public void Unwrapped_rows_take_the_table_from_the_topic(string topic, string expected) =>
        Assert.Equal(expected, Decode(topic, "", """{"id":1}""").Change!.Table);

    [Theory]
    [InlineData("""{"ts_ms":1000,"ts_us":2000001,"ts_ns":3000000001}""", 20_000_010)]
    [InlineData("""{"ts_ms":1000,"ts_ns":3000000100}""", 30_000_001)]
    [InlineData("""{"ts_ms":1000}""", 10_000_000)]
    [InlineData("""{"ts_us":null,"ts_ms":1000}""", 10_000_000)]
    [InlineData("""{}""", 50_000_000)] // source has none: Debezium's own ts_ms
    [InlineData("""{"ts_ms":1000,"ts\u005fus":2000001}""", 20_000_010)] // an escaped name is the same name
    public void Commit_time_prefers_the_most_precise_source_timestamp(string source, long ticks)
    {
        var e = DecodeChange($$$"""{"op":"u","after":{"id":1},"source":{{{source}}},"ts_ms":5000}""");

        Assert.Equal(DateTimeOffset.UnixEpoch.AddTicks(ticks), e.CommitTime);
        Assert.Equal(TimeSpan.Zero, e.CommitTime!.Value.Offset);
    }

    [Fact]
    public void Truncate_has_no_row_images_even_if_sent()
    {
        var e = DecodeChange(Envelope("t", before: """{"id":1}""", after: """{"id":2}"""));

        Assert.Equal(ChangeOperation.Truncate, e.Operation);
        Assert.Null(e.Before);
        Assert.Null(e.After);
    }

    // ---- ExtractNewRecordState output ----

    [Theory]
    [InlineData("\"true\"")]
    [InlineData("true")]
    public void Unwrapped_deleted_row_is_a_delete_with_the_row_as_before(string deleted)
    {
        var e = DecodeChange($$$"""{"id":5,"email":"a@b.c","__op":"d","__table":"customers","__lsn":123,"__source_ts_ms":1700000000000,"__deleted":{{{deleted}}}}""");

        Assert.Equal(ChangeOperation.Delete, e.Operation);
        AssertRow(e.Before, ("id", "5"), ("email", "a@b.c"));
        Assert.Equal(2, e.Before!.Count);
        Assert.Null(e.After);
        Assert.Equal(Millis(1700000000000), e.CommitTime);
        Assert.Equal("public.customers", e.Table);
    }

    [Theory]
    [InlineData("""{"id":1,"__op":"c","__deleted":"false"}""", ChangeOperation.Create)]
    [InlineData("""{"id":1,"__op":"u"}""", ChangeOperation.Update)]
    [InlineData("""{"id":1,"__op":"r","__deleted":false}""", ChangeOperation.Read)]
    [InlineData("""{"id":1}""", ChangeOperation.Update)]
    [InlineData("""{"id":1,"__deleted":"false"}""", ChangeOperation.Update)]
    public void Unwrapped_live_row_is_the_after_image(string value, ChangeOperation operation)
    {
        var e = DecodeChange(value);

        Assert.Equal(operation, e.Operation);
        Assert.Null(e.Before);
        AssertRow(e.After, ("id", "1"));
        Assert.Equal(1, e.After!.Count);
        Assert.Null(e.CommitTime);
    }

    [Fact]
    public void Unwrapped_commit_time_prefers_source_time_over_processing_time() =>
        Assert.Equal(
            Millis(1000),
            DecodeChange("""{"id":1,"__ts_ms":2000,"__source_ts_ms":1000}""").CommitTime);

    // ---- what goes to the dead-letter topic ----

    [Theory]
    [InlineData("""{"op":"c","after":""", "not valid JSON")]
    [InlineData("""{"op":"c"} trailing""", "not valid JSON")]
    [InlineData("""{'op':'c'}""", "not valid JSON")]
    [InlineData("   ", "not valid JSON")]
    [InlineData("[1,2]", "JSON array, not the JSON object")]
    [InlineData("\"c\"", "JSON string, not the JSON object")]
    [InlineData("42", "JSON number, not the JSON object")]
    [InlineData("""{"op":"x","after":{"id":1}}""", "unknown op 'x'")]
    [InlineData("""{"op":"create","after":{"id":1}}""", "unknown op 'create'")]
    [InlineData("""{"op":null,"after":{"id":1}}""", "'op' field is a JSON null")]
    [InlineData("""{"id":1,"__op":"z"}""", "unknown op 'z'")]
    [InlineData("""{"before":null,"after":{"id":1},"source":{}}""", "no 'op'")]
    [InlineData("{}", "empty JSON object")]
    [InlineData("""{"schema":null,"payload":[1]}""", "payload is a JSON array")]
    [InlineData("""{"op":"u","after":{"id":1,"id":2}}""", "same column twice")]
    public void Unreadable_values_say_what_is_wrong(string value, string reason)
    {
        var ex = Assert.Throws<ChangeEventFormatException>(() => Decode(Topic, "", value));

        Assert.Contains(reason, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Binary_garbage_is_a_format_error()
    {
        byte[] avro = [0x00, 0x00, 0x00, 0x00, 0x2A, 0x02, 0x10, 0xFF, 0xFE];
        byte[] noise = [0xFF, 0xFE, 0x80, 0x01, 0x7B];

        var avroError = Assert.Throws<ChangeEventFormatException>(() => new DebeziumDecoder().Decode(Topic, [], avro));
        var noiseError = Assert.Throws<ChangeEventFormatException>(() => new DebeziumDecoder().Decode(Topic, [], noise));

        Assert.Contains("not valid JSON", avroError.Message, StringComparison.Ordinal);
        Assert.Contains("wire format", avroError.Message, StringComparison.Ordinal);
        Assert.Contains("not valid JSON", noiseError.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"op":"c","after":{"name":"#"}}""")]
    [InlineData("""{"op":"c","after":{"n#me":"x"}}""")]
    [InlineData("""{"op":"c","after":{"id":1},"source":{"schema":"public","table":"t#"}}""")]
    public void Invalid_utf8_inside_a_string_is_a_format_error(string json)
    {
        var value = Encoding.UTF8.GetBytes(json);
        value[Array.IndexOf(value, (byte)'#')] = 0xFF;

        var ex = Assert.Throws<ChangeEventFormatException>(() => new DebeziumDecoder().Decode(Topic, [], value));

        Assert.Contains("UTF-8", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("{\"id\":", "key is not valid JSON")]
    [InlineData("[1]", "key is a JSON array")]
    public void Unreadable_keys_say_so(string key, string reason)
    {
        var ex = Assert.Throws<ChangeEventFormatException>(() => Decode(Topic, key, Envelope("c", after: """{"id":1}""")));

        Assert.Contains(reason, ex.Message, StringComparison.Ordinal);
    }

    // ---- cost ----

    [Fact]
    public void Decoding_a_schemaful_event_allocates_far_less_than_the_event()
    {
        // Real JsonConverter layout: key and value both carry their schema (2.5 KB of the value's 3 KB).
        var fixture = DebeziumFixtures.Load("mysql-delete-key-and-value-schema.json");
        var key = Compact(fixture.Key);
        var value = Compact(fixture.Value);

        var allocated = MeasureAllocations(fixture.Topic, key, value);
        var withoutSchemas = MeasureAllocations(fixture.Topic, Payload(key), Payload(value));

        Assert.Equal(withoutSchemas, allocated); // the schemas cost nothing

        // The output (a 4-column row, a 1-column key, their strings, the event) is about 1 KB; building a
        // schema tree or copying the record would cost more than the record itself.
        Assert.True(allocated < (key.Length + value.Length) / 2, $"decoding allocated {allocated} bytes for a {key.Length}+{value.Length}-byte record");
    }

    [Fact]
    public void Schema_size_does_not_change_what_decoding_allocates()
    {
        const string Payload = """{"before":null,"after":{"id":1,"name":"x"},"source":{"schema":"public","table":"t","ts_ms":1},"op":"c"}""";
        var bigSchema = "{\"type\":\"struct\",\"fields\":["
            + string.Join(",", Enumerable.Range(0, 200).Select(i => $$$"""{"type":"struct","fields":[{"type":"string","optional":true,"name":"io.debezium.data.Json","field":"c{{{i}}}"}],"optional":true,"field":"f{{{i}}}"}"""))
            + "],\"optional\":false}";
        var small = Encoding.UTF8.GetBytes($$$"""{"schema":{"type":"struct","fields":[],"optional":false},"payload":{{{Payload}}}}""");
        var big = Encoding.UTF8.GetBytes($$$"""{"schema":{{{bigSchema}}},"payload":{{{Payload}}}}""");

        var smallAllocated = MeasureAllocations(Topic, [], small);
        var bigAllocated = MeasureAllocations(Topic, [], big);

        Assert.True(big.Length > 20_000);
        Assert.Equal(smallAllocated, bigAllocated);
    }

    private static byte[] Compact(byte[] json)
    {
        using var document = JsonDocument.Parse(json);
        return JsonSerializer.SerializeToUtf8Bytes(document.RootElement);
    }

    private static byte[] Payload(byte[] json)
    {
        using var document = JsonDocument.Parse(json);
        return JsonSerializer.SerializeToUtf8Bytes(document.RootElement.GetProperty("payload"));
    }

    private static long MeasureAllocations(string topic, byte[] key, byte[] value)
    {
        var decoder = new DebeziumDecoder();
        for (var i = 0; i < 5; i++)
        {
            decoder.Decode(topic, key, value);
        }

        var least = long.MaxValue;
        for (var i = 0; i < 5; i++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            decoder.Decode(topic, key, value);
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }

        return least;
    }

    // ---- helpers ----

    private static string DecimalField(string name, int scale) =>
        $$$"""{"type":"bytes","optional":true,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"{{{scale}}}","connect.decimal.precision":"10"},"field":"{{{name}}}"}""";

    private static string Envelope(string op, string before = "null", string after = "null") =>
        $$$"""{"before":{{{before}}},"after":{{{after}}},"source":{"connector":"postgresql","name":"dbserver1","ts_ms":1700000000000,"db":"postgres","schema":"public","table":"customers"},"op":"{{{op}}}","ts_ms":1700000000100}""";

    private DecodedRecord Decode(string topic, string key, string value) =>
        _decoder.Decode(topic, Encoding.UTF8.GetBytes(key), Encoding.UTF8.GetBytes(value));

    private ChangeEvent DecodeChange(string value, string key = "")
    {
        var record = Decode(Topic, key, value);
        Assert.Equal(RecordKind.Change, record.Kind);
        return record.Change!;
    }

    private static ChangeEvent AssertChange(DecodedRecord record, string table, ChangeOperation operation, DateTimeOffset? commitTime)
    {
        Assert.Equal(RecordKind.Change, record.Kind);
        var change = Assert.IsType<ChangeEvent>(record.Change);
        Assert.Equal(table, change.Table);
        Assert.Equal(operation, change.Operation);
        Assert.Equal(commitTime, change.CommitTime);
        return change;
    }

    /// <summary>Asserts columns and their canonical text; a null text means SQL NULL.</summary>
    private static void AssertRow(RowImage? row, params (string Column, string? Text)[] columns)
    {
        Assert.NotNull(row);
        foreach (var (column, text) in columns)
        {
            Assert.True(row.TryGet(column, out var value), $"column '{column}' is missing from the row");
            Assert.Equal(text is null ? ColumnValue.Null : ColumnValue.Of(text), value);
        }
    }

    private static void AssertUnavailable(RowImage? row, string column)
    {
        Assert.NotNull(row);
        Assert.True(row.TryGet(column, out var value), $"column '{column}' is missing from the row");
        Assert.Equal(ColumnValue.Unavailable, value);
    }

    private static DateTimeOffset Millis(long ms) => DateTimeOffset.FromUnixTimeMilliseconds(ms);

    private static DateTimeOffset Micros(long us) => DateTimeOffset.UnixEpoch.AddTicks(us * 10);
}
