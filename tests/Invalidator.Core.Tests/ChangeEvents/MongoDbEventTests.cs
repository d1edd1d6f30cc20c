using System.Text;
using Invalidator.Core.ChangeEvents;
using Invalidator.Core.Planning;
using Invalidator.Core.Rules;

namespace Invalidator.Core.Tests.ChangeEvents;

/// <summary>
/// Events of Debezium's MongoDB connector, as its documentation shows them: the documents are JSON strings of
/// MongoDB Extended JSON, <c>source.connector</c> is <c>mongodb</c>, and the record key is <c>{"id": "&lt;_id&gt;"}</c>.
/// They decode into rows of the document's fields with <c>_id</c> from the key, so templates render.
/// </summary>
public class MongoDbEventTests
{
    private const string Topic = "fulfillment.inventory.customers";

    private static readonly RuleSet Rules = RulesLoader.Parse("""
        tables:
          inventory.customers:
            keys: ["customer:{_id}", "customer:email:{email}"]
        """, "rules.yaml");

    private const string Source =
        """{"version":"2.7.0.Final","connector":"mongodb","name":"fulfillment","ts_ms":1558965508000,"snapshot":false,"db":"inventory","rs":"rs0","collection":"customers","ord":31,"h":1546547425148721999}""";

    private const string Key = """{"id":"1004"}""";

    // The key with JsonConverter's schema, as the documentation shows it.
    private const string KeyWithSchema =
        """{"schema":{"type":"struct","name":"fulfillment.inventory.customers.Key","optional":false,"fields":[{"field":"id","type":"string","optional":false}]},"payload":{"id":"1004"}}""";

    private const string Anne =
        """{\"_id\" : {\"$numberLong\" : \"1004\"},\"first_name\" : \"Anne\",\"last_name\" : \"Kretchmar\",\"email\" : \"annek@noanswer.org\"}""";

    private const string AnneMarie =
        """{\"_id\": {\"$numberLong\": \"1004\"},\"first_name\": \"Anne Marie\",\"last_name\": \"Kretchmar\",\"email\": \"anne.marie@noanswer.org\"}""";

    private static ChangeEvent Decode(string value, string key = Key)
    {
        var record = new DebeziumDecoder().Decode(Topic, Encoding.UTF8.GetBytes(key), Encoding.UTF8.GetBytes(value), Rules.DecoderHints);
        Assert.Equal(RecordKind.Change, record.Kind);
        return record.Change!;
    }

    private static InvalidationPlan Plan(ChangeEvent change) => new InvalidationPlanner(Rules).Plan(change);

    [Fact]
    public void A_create_with_schemas_reads_the_document_s_fields_and_renders_every_template()
    {
        var value = $$$"""
            {"schema":{"type":"struct","fields":[{"type":"string","optional":true,"name":"io.debezium.data.Json","version":1,"field":"after"},{"type":"string","optional":true,"name":"io.debezium.data.Json","version":1,"field":"patch"},{"type":"struct","fields":[],"optional":false,"name":"io.debezium.connector.mongo.Source","field":"source"},{"type":"string","optional":true,"field":"op"},{"type":"int64","optional":true,"field":"ts_ms"}],"optional":false,"name":"dbserver1.inventory.customers.Envelope"},
             "payload":{"after":"{{{Anne}}}","source":{{{Source}}},"op":"c","ts_ms":1558965515240}}
            """;

        var change = Decode(value, KeyWithSchema);
        var plan = Plan(change);

        Assert.Equal(("inventory.customers", ChangeOperation.Create), (change.Table, change.Operation));
        Assert.Equal(DateTimeOffset.FromUnixTimeMilliseconds(1558965508000), change.CommitTime);
        Assert.Equal(ColumnValue.Of("1004"), change.After!.Columns["_id"]);
        Assert.Equal(ColumnValue.Of("Anne"), change.After.Columns["first_name"]);
        Assert.Equal(ColumnValue.Of("1004"), change.Key!.Columns["_id"]);
        Assert.Equal(["customer:1004", "customer:email:annek@noanswer.org"], plan.Keys);
        Assert.Empty(plan.Unresolved);
    }

    [Fact]
    public void An_update_with_both_documents_invalidates_the_old_and_the_new_email()
    {
        var value = $$$"""
            {"op":"u","ts_ms":1465491461815,"before":"{{{Anne}}}","after":"{{{AnneMarie}}}",
             "updateDescription":{"removedFields":null,"updatedFields":"{\"first_name\": \"Anne Marie\"}","truncatedArrays":null},
             "source":{{{Source}}}}
            """;

        var plan = Plan(Decode(value));

        Assert.Equal(["customer:1004", "customer:email:annek@noanswer.org", "customer:email:anne.marie@noanswer.org"], plan.Keys);
        Assert.Empty(plan.Unresolved);
    }

    [Fact]
    public void An_update_without_the_document_has_the_changed_fields_and_the_key_s_id_as_its_after_image()
    {
        var value = $$$"""
            {"op":"u","ts_ms":1465491461815,"before":null,"after":null,
             "updateDescription":{"removedFields":["nickname"],"updatedFields":"{\"email\": \"anne.marie@noanswer.org\"}","truncatedArrays":null},
             "source":{{{Source}}}}
            """;

        var change = Decode(value);
        var plan = Plan(change);

        Assert.Null(change.Before);
        Assert.Equal(["_id", "email"], change.After!.ColumnNames.Order(StringComparer.Ordinal));
        Assert.Equal(["customer:1004", "customer:email:anne.marie@noanswer.org"], plan.Keys);
    }

    [Fact]
    public void An_update_of_other_fields_reports_the_templates_it_cannot_render()
    {
        var value = $$$"""
            {"op":"u","before":null,"after":null,
             "updateDescription":{"removedFields":null,"updatedFields":"{\"first_name\": \"Anne Marie\"}","truncatedArrays":null},
             "source":{{{Source}}}}
            """;

        var plan = Plan(Decode(value));

        Assert.Equal(["customer:1004"], plan.Keys);
        var unresolved = Assert.Single(plan.Unresolved);
        Assert.Equal(("customer:email:{email}", "after", RenderFailure.MissingColumn), (unresolved.Template, unresolved.Image, unresolved.Failure));
    }

    [Theory]
    [InlineData("""{"op":"d","ts_ms":1465495462115,"before":null,"after":null,"updateDescription":null,"source":{{Source}},"transaction":null}""")]
    [InlineData("""{"op":"d","ts_ms":1465495462115,"source":{{Source}}}""")]
    public void A_delete_without_a_pre_image_takes_the_id_from_the_key(string template)
    {
        var change = Decode(template.Replace("{{Source}}", Source, StringComparison.Ordinal));

        Assert.Equal(ChangeOperation.Delete, change.Operation);
        Assert.Equal(["customer:1004"], Plan(change).Keys);
    }

    [Fact]
    public void A_delete_with_a_pre_image_invalidates_the_document_s_keys()
    {
        var value = $$$"""{"op":"d","ts_ms":1465495462115,"before":"{{{Anne}}}","source":{{{Source}}}}""";

        Assert.Equal(["customer:1004", "customer:email:annek@noanswer.org"], Plan(Decode(value)).Keys);
    }

    [Fact]
    public void A_snapshot_read_is_a_read()
    {
        var value = $$$"""{"op":"r","after":"{{{Anne}}}","source":{{{Source.Replace("\"snapshot\":false", "\"snapshot\":true", StringComparison.Ordinal)}}}}""";

        Assert.Equal(ChangeOperation.Read, Decode(value).Operation);
    }

    [Theory]
    [InlineData("""{"id":"1234"}""", "1234")]
    [InlineData("""{"id":"12.34"}""", "12.34")]
    [InlineData("""{"id":"\"1234\""}""", "1234")]
    [InlineData("""{"id":"{\"$oid\" : \"596e275826f08b2730779e1f\"}"}""", "596e275826f08b2730779e1f")]
    [InlineData("""{"id":"{\"$numberLong\" : \"9007199254740993\"}"}""", "9007199254740993")]
    [InlineData("""{"id":"{\"hi\" : \"kafka\", \"nums\" : [10.0, 100.0, 1000.0]}"}""", """{"hi":"kafka","nums":[10.0,100.0,1000.0]}""")]
    [InlineData("""{"id":"{\"$binary\" : \"a2Fma2E=\", \"$type\" : \"00\"}"}""", """{"$binary":"a2Fma2E=","$type":"00"}""")]
    [InlineData("""{"id":"not json"}""", "not json")]
    public void The_key_s_id_renders_as_the_document_s_id_does(string key, string expected)
    {
        var value = $$$"""{"op":"d","before":null,"after":null,"source":{{{Source}}}}""";

        Assert.Equal(ColumnValue.Of(expected), Decode(value, key).Key!.Columns["_id"]);
    }

    [Theory]
    [InlineData("""{"$oid":"596e275826f08b2730779e1f"}""", "596e275826f08b2730779e1f")]
    [InlineData("""{"$numberInt":"7"}""", "7")]
    [InlineData("""{"$numberDouble":"1.5"}""", "1.5")]
    [InlineData("""{"$numberDecimal":"30.50"}""", "30.50")]
    [InlineData("""{"$date":1712000000000}""", "1712000000000")]
    [InlineData("""{"$date":{"$numberLong":"1712000000000"}}""", "1712000000000")]
    [InlineData("""{"$date":"2024-04-01T19:33:20Z"}""", "2024-04-01T19:33:20Z")]
    [InlineData("""{"city":"Oslo"}""", """{"city":"Oslo"}""")]
    [InlineData("""{"$oid":"596e275826f08b2730779e1f","extra":1}""", """{"$oid":"596e275826f08b2730779e1f","extra":1}""")]
    [InlineData("""[1, 2]""", "[1,2]")]
    [InlineData("\"text\"", "text")]
    [InlineData("42", "42")]
    [InlineData("true", "true")]
    public void Extended_json_scalars_lose_their_wrappers_and_structures_stay_json(string json, string expected)
    {
        var document = JsonString($$$"""{"_id":1,"v":{{{json}}}}""");
        var value = $$$"""{"op":"c","after":{{{document}}},"source":{{{Source}}}}""";

        Assert.Equal(ColumnValue.Of(expected), Decode(value).After!.Columns["v"]);
    }

    [Fact]
    public void Null_fields_are_null()
    {
        var value = $$$"""{"op":"c","after":"{\"_id\":1,\"email\":null}","source":{{{Source}}}}""";

        var plan = Plan(Decode(value));

        Assert.Equal(ColumnValue.Null, Decode(value).After!.Columns["email"]);
        Assert.Equal(["customer:1"], plan.Keys);
        Assert.Equal(RenderFailure.NullColumn, Assert.Single(plan.Unresolved).Failure);
    }

    [Fact]
    public void The_oplog_mode_of_debezium_1_reads_the_patch_and_the_filter()
    {
        // 1.x oplog capture: an update has a patch (update operators, or a whole replacement document) and a filter.
        var set = $$$"""{"op":"u","patch":"{\"$v\": 1,\"$set\": {\"email\": \"anne.marie@noanswer.org\"}}","filter":"{\"_id\" : {\"$numberLong\" : \"1004\"}}","source":{{{Source}}}}""";
        var replace = $$$"""{"op":"u","patch":"{{{AnneMarie}}}","filter":"{\"_id\" : {\"$numberLong\" : \"1004\"}}","source":{{{Source}}}}""";
        var unset = $$$"""{"op":"u","patch":"{\"$v\": 1,\"$unset\": {\"nickname\": true}}","filter":"{\"_id\" : 1004}","source":{{{Source}}}}""";
        var delete = $$$"""{"op":"d","filter":"{\"_id\" : {\"$numberLong\" : \"1004\"}}","source":{{{Source}}}}""";

        Assert.Equal(["customer:1004", "customer:email:anne.marie@noanswer.org"], Plan(Decode(set)).Keys);
        Assert.Equal(["customer:1004", "customer:email:anne.marie@noanswer.org"], Plan(Decode(replace)).Keys);
        Assert.Equal(["customer:1004"], Plan(Decode(unset)).Keys);
        Assert.Equal(["customer:1004"], Plan(Decode(delete, key: "")).Keys); // without a key, the filter's _id
    }

    [Fact]
    public void A_tombstone_after_a_mongodb_delete_renders_the_id_from_the_key()
    {
        var record = new DebeziumDecoder().Decode(Topic, Encoding.UTF8.GetBytes("""{"id":"{\"$oid\": \"596e275826f08b2730779e1f\"}"}"""), [], Rules.DecoderHints);

        Assert.Equal(RecordKind.Tombstone, record.Kind);
        Assert.Contains("customer:596e275826f08b2730779e1f", Plan(record.Change!).Keys);
    }

    [Fact]
    public void A_tombstone_keeps_its_key_as_it_is_when_the_rule_does_not_render_an_id()
    {
        var rules = RulesLoader.Parse("""
            tables:
              inventory.customers:
                keys: ["customer:{id}"]
            """, "rules.yaml");

        var record = new DebeziumDecoder().Decode(Topic, Encoding.UTF8.GetBytes("""{"id":"1004"}"""), [], rules.DecoderHints);

        Assert.Equal(["id"], record.Change!.Key!.ColumnNames);
    }

    [Theory]
    [InlineData("""{"op":"c","after":"[1,2]","source":{{Source}}}""", "not a document")]
    [InlineData("""{"op":"c","after":"{\"_id\":1","source":{{Source}}}""", "not valid JSON")]
    [InlineData("""{"op":"c","after":"{\"_id\":1,\"_id\":2}","source":{{Source}}}""", "same field twice")]
    [InlineData("""{"op":"c","after":17,"source":{{Source}}}""", "where a document")]
    [InlineData("""{"op":"upsert","after":"{\"_id\":1}","source":{{Source}}}""", "unknown op 'upsert'")]
    public void A_document_that_cannot_be_read_is_undecodable_with_the_reason(string template, string reason)
    {
        var value = Encoding.UTF8.GetBytes(template.Replace("{{Source}}", Source, StringComparison.Ordinal));

        var error = Assert.Throws<ChangeEventFormatException>(() => new DebeziumDecoder().Decode(Topic, Encoding.UTF8.GetBytes(Key), value, Rules.DecoderHints));

        Assert.Contains(reason, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Rows_and_relational_envelopes_are_not_taken_for_mongodb_events()
    {
        // A row with a source column (SMT metadata makes it a row), and a relational envelope whose connector differs.
        var row = Decode($$$"""{"_id":1,"op":"c","after":"x","source":{{{Source}}},"__op":"c"}""");
        var relational = Decode("""{"op":"c","before":null,"after":{"_id":"5","email":"a@b"},"source":{"connector":"postgresql","schema":"inventory","table":"customers"}}""");
        var stated = new DebeziumDecoder().Decode(
            Topic,
            Encoding.UTF8.GetBytes(Key),
            Encoding.UTF8.GetBytes($$$"""{"_id":1,"op":"c","after":"x","source":{{{Source}}}}"""),
            RulesLoader.Parse("""
                tables:
                  inventory.customers:
                    keys: ["customer:{_id}"]
                    format: unwrapped
                """, "rules.yaml").DecoderHints).Change!;

        Assert.Equal(ColumnValue.Of("x"), row.After!.Columns["after"]);
        Assert.Equal(ColumnValue.Of("5"), relational.After!.Columns["_id"]);
        Assert.Equal(ColumnValue.Of("1004"), relational.Key!.Columns["id"]);
        Assert.Equal(ColumnValue.Of("x"), stated.After!.Columns["after"]);
    }

    [Fact]
    public void The_one_pass_path_leaves_mongodb_events_to_the_full_decode()
    {
        var value = $$$"""{"op":"d","before":null,"after":null,"updateDescription":null,"source":{{{Source}}},"transaction":null}""";
        var batch = new InvalidationBatch();

        var taken = new OnePassPlanner(Rules).TryPlan(Topic, Encoding.UTF8.GetBytes(Key), Encoding.UTF8.GetBytes(value), batch, out _);

        Assert.False(taken);
        Assert.Equal(0, batch.PlanCount);
    }

    private static string JsonString(string json) => System.Text.Json.JsonSerializer.Serialize(json);
}
