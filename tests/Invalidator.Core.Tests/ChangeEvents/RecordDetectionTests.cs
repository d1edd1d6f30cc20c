using System.Text;
using Invalidator.Core.ChangeEvents;
using Invalidator.Core.Rules;

namespace Invalidator.Core.Tests.ChangeEvents;

/// <summary>How the decoder tells an envelope from an unwrapped row and the other record kinds, and what the rules' hints change.</summary>
public class RecordDetectionTests
{
    private const string Topic = "crm.sales.leads";

    private static readonly DecoderHints Hints = RulesLoader.Parse("""
        tables:
          sales.leads:
            keys: ["lead:{lead_id}"]
            decimals: [score, budget]
          sales.contacts:
            keys: ["contact:{contact_id}"]
            replicaIdentity: default
        """, "rules.yaml").DecoderHints;

    private static DecodedRecord Decode(string value, string key = "", string topic = Topic, DecoderHints? hints = null) =>
        new DebeziumDecoder().Decode(topic, Encoding.UTF8.GetBytes(key), Encoding.UTF8.GetBytes(value), hints ?? Hints);

    private static ColumnValue After(string value, string column)
    {
        var change = Decode(value).Change!;
        Assert.True(change.After!.TryGet(column, out var result), $"no column {column}");
        return result;
    }

    [Theory]
    [InlineData("""{"op":"c","after":{"lead_id":1},"source":{"schema":"sales","table":"leads"},"ts_ms":1}""", "lead_id")]
    [InlineData("""{"op":"c","after":{"lead_id":1},"source":null,"transaction":null,"ts_us":1,"ts_ns":1}""", "lead_id")]
    [InlineData("""{"\u006fp":"u","after":{"lead_id":1}}""", "lead_id")] // escaped names are the same names
    [InlineData("""{"op":"c","after":{"lead_id":1},"lead_id":1}""", "after,lead_id,op")] // a column beside them: a row
    [InlineData("""{"op":"c","after":"lead_id=1"}""", "after,op")] // an image that is not an object: a row
    [InlineData("""{"op":"c","source":"web-form"}""", "op,source")]
    [InlineData("""{"op":"c","after":{"lead_id":1},"__deleted":"false"}""", "after,op")] // SMT metadata: a row
    [InlineData("""{"op":"c","transaction":"T1"}""", "op,transaction")]
    [InlineData("""{"ts_ms":5}""", "ts_ms")]
    // Fields beside the envelope's (Scylla's key, an InsertField SMT's field): still an envelope by its structure.
    [InlineData("""{"op":"c","before":null,"after":{"lead_id":1},"source":{"table":"leads"},"key":{"lead_id":1}}""", "lead_id")]
    [InlineData("""{"op":"u","before":{"lead_id":1},"after":{"lead_id":1},"source":{},"origin":"eu-west-1","ts_ms":1}""", "lead_id")]
    [InlineData("""{"schema":null,"payload":{"op":"r","before":null,"after":{"lead_id":1},"source":{},"partition":3}}""", "lead_id")]
    // ... but only with all of it: a valid op code, before and after both there as objects or null, source an object.
    [InlineData("""{"op":"c","after":{"lead_id":1},"source":{},"key":1}""", "after,key,op,source")]
    [InlineData("""{"op":"insert","before":null,"after":{"lead_id":1},"source":{},"key":1}""", "after,before,key,op,source")]
    [InlineData("""{"op":"c","before":null,"after":{"lead_id":1},"source":"web","key":1}""", "after,before,key,op,source")]
    [InlineData("""{"op":"c","before":"x","after":{"lead_id":1},"source":{},"key":1}""", "after,before,key,op,source")]
    [InlineData("""{"op":"c","before":null,"after":{"lead_id":1},"source":{},"key":1,"__deleted":"false"}""", "after,before,key,op,source")]
    public void An_envelope_is_recognised_by_its_structure(string value, string afterColumns)
    {
        var after = Decode(value).Change!.After!;

        // An envelope's after image is its row; an unwrapped row is the after image with every column it has.
        Assert.Equal(afterColumns, string.Join(',', after.ColumnNames.Order(StringComparer.Ordinal)));
    }

    [Theory]
    [InlineData("""{"key":{"lead_id":7}}""")]
    [InlineData("""{"origin":"eu-west-1","partition":0}""")]
    [InlineData("""{"schema":"crm"}""")] // a field named like the converter's wrapper
    public void A_delete_with_extra_fields_stays_a_delete(string extra)
    {
        var value = $$$"""{"before":{"lead_id":7,"name":"Ann"},"after":null,"source":{"schema":"sales","table":"leads"},"op":"d",{{{extra[1..^1]}}}}""";

        var change = Decode(value, key: """{"lead_id":7}""").Change!;

        Assert.Equal((ChangeOperation.Delete, "sales.leads"), (change.Operation, change.Table));
        Assert.Null(change.After);
        Assert.Equal(ColumnValue.Of("Ann"), change.Before!.Columns["name"]);
    }

    [Theory]
    [InlineData("149.90", "149.90")]
    [InlineData("-0.5", "-0.5")]
    [InlineData("1.5E+3", "1.5E+3")]
    [InlineData(".25", ".25")]
    [InlineData("1234", "1234")] // digits only: a decimal string (precise base64 needs a schema or string mode)
    public void A_listed_decimal_string_renders_as_written(string json, string expected) =>
        Assert.Equal(ColumnValue.Of(expected), After($$$"""{"lead_id":1,"score":"{{{json}}}","__op":"u"}""", "score"));

    [Theory]
    [InlineData("\"Oo4=\"")]
    [InlineData("\"AdUL\"")]
    [InlineData("\"1e\"")]
    [InlineData("\"\"")]
    [InlineData("\"12,50\"")]
    [InlineData("true")]
    [InlineData("{\"currency\":\"EUR\"}")]
    [InlineData("[1]")]
    public void A_listed_decimal_that_holds_anything_else_is_undecodable(string json) =>
        Assert.Equal(ColumnValueKind.Undecodable, After($$$"""{"lead_id":1,"score":{{{json}}},"__op":"u"}""", "score").Kind);

    [Fact]
    public void A_listed_decimal_keeps_numbers_nulls_placeholders_and_variable_scale_structs()
    {
        var value = """{"lead_id":1,"score":12.50,"budget":{"scale":2,"value":"AdUL"},"note":"Oo4=","__op":"u"}""";

        Assert.Equal(ColumnValue.Of("12.50"), After(value, "score"));
        Assert.Equal(ColumnValue.Of("1200.75"), After(value, "budget"));
        Assert.Equal(ColumnValue.Of("Oo4="), After(value, "note")); // not listed: an ordinary string
        Assert.Equal(ColumnValue.Null, After("""{"lead_id":1,"score":null}""", "score"));
        Assert.Equal(ColumnValue.Unavailable, After("""{"lead_id":1,"score":"__debezium_unavailable_value"}""", "score"));
    }

    [Fact]
    public void Listed_decimals_apply_to_the_key_and_to_the_images_of_an_envelope()
    {
        var change = Decode(
            """{"before":{"lead_id":2,"score":"Oo4="},"after":{"lead_id":2,"score":"7.25"},"source":{"schema":"sales","table":"leads"},"op":"u"}""",
            key: """{"lead_id":2,"score":"AdUL"}""").Change!;

        Assert.Equal(ColumnValueKind.Undecodable, change.Before!.Columns["score"].Kind);
        Assert.Equal(ColumnValue.Of("7.25"), change.After!.Columns["score"]);
        Assert.Equal(ColumnValueKind.Undecodable, change.Key!.Columns["score"].Kind);
    }

    [Fact]
    public void Default_identity_trusts_only_the_record_keys_columns_of_an_old_row()
    {
        const string Value = """{"before":{"contact_id":9,"owner_id":0,"email":""},"after":null,"source":{"schema":"sales","table":"contacts"},"op":"d"}""";

        var withKey = Decode(Value, key: """{"contact_id":9}""", topic: "crm.sales.contacts").Change!;
        var withoutKey = Decode(Value, topic: "crm.sales.contacts").Change!;
        var otherTable = Decode(Value.Replace("contacts", "leads", StringComparison.Ordinal), key: """{"contact_id":9}""").Change!;

        Assert.Equal(ColumnValue.Of("9"), withKey.Before!.Columns["contact_id"]);
        Assert.Equal(ColumnValue.Untrusted, withKey.Before.Columns["owner_id"]);
        Assert.Equal(ColumnValue.Untrusted, withKey.Before.Columns["email"]);
        Assert.All(withoutKey.Before!.Columns.Values, v => Assert.Equal(ColumnValue.Untrusted, v)); // no key: nothing is known to be real
        Assert.Equal(ColumnValue.Of("0"), otherTable.Before!.Columns["owner_id"]); // full identity: the old row is whole
    }

    [Fact]
    public void Default_identity_leaves_after_images_alone()
    {
        var change = Decode(
            """{"before":null,"after":{"contact_id":9,"owner_id":0},"source":{"schema":"sales","table":"contacts"},"op":"u"}""",
            key: """{"contact_id":9}""", topic: "crm.sales.contacts").Change!;

        Assert.Equal(ColumnValue.Of("0"), change.After!.Columns["owner_id"]);
    }

    [Theory]
    [InlineData("""{"ts_ms":1}""", """{"serverName":"crm"}""", RecordKind.Heartbeat)]
    [InlineData("""{"ts_ms":1}""", """{"schema":{"type":"struct","fields":[]},"payload":{"serverName":"crm"}}""", RecordKind.Heartbeat)]
    [InlineData("""{"ts_ms":1}""", """{"serverName":"crm","extra":1}""", RecordKind.Change)]
    [InlineData("""{"ts_ms":1}""", """{"id":1}""", RecordKind.Change)]
    [InlineData("""{"ts_ms":1}""", "", RecordKind.Change)]
    [InlineData("""{"ts_ms":1,"id":1}""", """{"serverName":"crm"}""", RecordKind.Change)]
    [InlineData("""{"schema":{"type":"struct","name":"io.debezium.connector.common.Heartbeat","fields":[]},"payload":{"ts_ms":1}}""", "", RecordKind.Heartbeat)]
    [InlineData("""{"schema":{"type":"struct","name":"crm.Heartbeat.Value","fields":[]},"payload":{"ts_ms":1}}""", "", RecordKind.Change)]
    public void Heartbeats_are_recognised_by_schema_name_or_by_shape_on_any_topic(string value, string key, RecordKind kind) =>
        Assert.Equal(kind, Decode(value, key, topic: "pulse.crm").Kind);

    [Theory]
    [InlineData("""{"status":"BEGIN","id":"1:2","event_count":null,"data_collections":null}""", "crm.txlog", RecordKind.TransactionMetadata)]
    [InlineData("""{"status":"END","id":"1:2","data_collections":[]}""", "crm.txlog", RecordKind.TransactionMetadata)]
    [InlineData("""{"status":"END","id":"1:2"}""", "crm.txlog", RecordKind.Change)] // not the full shape
    [InlineData("""{"status":"END","id":"1:2","event_count":1}""", Topic, RecordKind.Change)] // the topic's table has a rule
    [InlineData("""{"status":"BEGIN","id":"1:2","event_count":null}""", "crm.sales.transaction", RecordKind.TransactionMetadata)] // no rule for sales.transaction
    [InlineData("""{"lead_id":1}""", "crm.transaction", RecordKind.TransactionMetadata)] // the transaction topic, whatever the value
    [InlineData("""{"lead_id":1}""", "crm.sales.leads.transaction", RecordKind.TransactionMetadata)]
    public void Transaction_metadata_needs_its_full_shape_or_topic_and_never_on_a_rule_topic(string value, string topic, RecordKind kind) =>
        Assert.Equal(kind, Decode(value, topic: topic).Kind);

    [Fact]
    public void A_table_with_a_rule_named_transaction_carries_rows()
    {
        var hints = RulesLoader.Parse("tables:\n  sales.transaction:\n    keys: [\"txn:{id}\"]\n", "rules.yaml").DecoderHints;

        var record = Decode("""{"id":4,"status":"END","event_count":1}""", topic: "crm.sales.transaction", hints: hints);

        Assert.Equal(RecordKind.Change, record.Kind);
        Assert.Equal("sales.transaction", record.Change!.Table);
    }

    [Theory]
    [InlineData("""{"source":{"connector":"mysql"},"databaseName":"crm","ddl":"DROP TABLE x","tableChanges":[]}""", "crm", RecordKind.SchemaChange)]
    [InlineData("""{"databaseName":"crm","ddl":"CREATE TABLE x (id INT)"}""", "crm", RecordKind.SchemaChange)]
    [InlineData("""{"databaseName":"crm","schemaName":"dbo","ddl":null,"tableChanges":[]}""", "crm", RecordKind.SchemaChange)]
    [InlineData("""{"schema":{"type":"struct","name":"io.debezium.connector.oracle.SchemaChangeValue","fields":[]},"payload":{"ddl":"ALTER TABLE x","tableChanges":[]}}""", "crm", RecordKind.SchemaChange)]
    [InlineData("""{"ddl":"ALTER TABLE x"}""", "crm", RecordKind.Change)] // a column called ddl is not enough
    [InlineData("""{"lead_id":1,"databaseName":"crm","ddl":"ALTER TABLE x"}""", Topic, RecordKind.Change)] // the topic's table has a rule
    [InlineData("""{"databaseName":"crm","ddl":"ALTER TABLE x","__op":"c"}""", "crm.sales.migrations", RecordKind.Change)] // SMT metadata: a row
    public void Schema_changes_are_recognised_by_their_fields_or_schema_name(string value, string topic, RecordKind kind) =>
        Assert.Equal(kind, Decode(value, topic: topic).Kind);

    private const string HistoryRecord =
        """{\"source\":{\"file\":\"binlog.000029\",\"pos\":23305,\"server_id\":1},\"databaseName\":\"sales\",\"ddl\":\"alter table leads add c12 int\",\"tableChanges\":[]}""";

    [Theory]
    [InlineData($$$"""{"source":{"connector":"mysql","db":"sales","table":"leads"},"historyRecord":"{{{HistoryRecord}}}"}""", Topic, RecordKind.SchemaChange)]
    [InlineData($$$"""{"historyRecord":"{{{HistoryRecord}}}"}""", "crm", RecordKind.SchemaChange)]
    [InlineData($$$"""{"source":{},"historyRecord":{"databaseName":"sales","ddl":"DROP TABLE x"},"ts_ms":1}""", Topic, RecordKind.SchemaChange)]
    [InlineData($$$"""{"schema":null,"payload":{"source":{},"historyRecord":"{{{HistoryRecord}}}"}}""", Topic, RecordKind.SchemaChange)]
    [InlineData($$$"""{"source":{},"historyRecord":"{{{HistoryRecord}}}","__op":"c"}""", Topic, RecordKind.Change)] // SMT metadata: a row
    [InlineData($$$"""{"lead_id":1,"historyRecord":"{{{HistoryRecord}}}"}""", Topic, RecordKind.Change)] // beside a column: a row
    [InlineData("""{"source":{},"historyRecord":"viewed twice"}""", Topic, RecordKind.Change)] // no ddl, no tableChanges: a column
    public void Flink_cdc_history_records_are_schema_changes_on_any_topic(string value, string topic, RecordKind kind) =>
        Assert.Equal(kind, Decode(value, topic: topic).Kind);

    [Fact]
    public void A_history_record_on_a_topic_stated_unwrapped_is_a_row()
    {
        var hints = RulesLoader.Parse("""
            tables:
              sales.leads:
                keys: ["lead:{historyRecord}"]
                format: unwrapped
            """, "rules.yaml").DecoderHints;

        var record = Decode($$$"""{"source":{},"historyRecord":"{{{HistoryRecord}}}"}""", hints: hints);

        Assert.Equal(RecordKind.Change, record.Kind);
        Assert.True(record.Change!.After!.Contains("historyRecord"));
    }

    [Fact]
    public void A_stated_format_overrides_detection()
    {
        var hints = RulesLoader.Parse("""
            tables:
              sales.history:
                keys: ["history:{op}"]
                format: unwrapped
              sales.leads:
                keys: ["lead:{lead_id}"]
                format: envelope
            """, "rules.yaml").DecoderHints;

        var row = Decode("""{"op":"d","before":{"x":1},"after":null,"source":{"table":"t"}}""", topic: "crm.sales.history", hints: hints);
        var error = Assert.Throws<ChangeEventFormatException>(() => Decode("""{"lead_id":1,"__op":"c"}""", hints: hints));

        Assert.Equal((ChangeOperation.Update, "sales.history"), (row.Change!.Operation, row.Change.Table));
        Assert.Equal(ColumnValue.Of("d"), row.Change.After!.Columns["op"]);
        Assert.Contains("no 'op'", error.Message, StringComparison.Ordinal);
        Assert.Contains("format: envelope", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_envelope_shaped_value_with_a_bad_op_says_how_to_state_unwrapped_rows()
    {
        var error = Assert.Throws<ChangeEventFormatException>(() => Decode("""{"op":"INSERT","after":{"lead_id":1}}"""));

        Assert.Contains("unknown op 'INSERT'", error.Message, StringComparison.Ordinal);
        Assert.Contains("format: unwrapped", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_tombstone_with_an_unreadable_key_is_undecodable()
    {
        var error = Assert.Throws<ChangeEventFormatException>(() => Decode("", key: "{\"lead_id\":"));

        Assert.Contains("key is not valid JSON", error.Message, StringComparison.Ordinal);
    }
}
