using Invalidator.Core.ChangeEvents;
using Invalidator.Core.Planning;
using Invalidator.Core.Rules;
using Invalidator.TestData;

namespace Invalidator.Core.Tests.ChangeEvents;

/// <summary>
/// Every record of TestData/RecordShapes decoded with the rules' hints and planned, as the worker and <c>explain</c>
/// do: the real-world shapes that used to lose invalidations silently (columns named like envelope fields, an op
/// column, rows shaped like transaction metadata, tombstones, schemaless decimals, deletes with nothing to render,
/// renamed heartbeats, schema changes, deletes under the default replica identity).
/// </summary>
public class RecordShapeTests
{
    private static readonly RuleSet Rules = RulesLoader.LoadFile(RecordShapes.RulesPath);

    public static TheoryData<string> Names() => [.. RecordShapes.Names()];

    [Theory]
    [MemberData(nameof(Names))]
    public void Record_decodes_and_plans_to_what_it_expects(string name)
    {
        var shape = RecordShapes.Load(name);
        var expect = shape.Expect;

        if (expect.Kind == "Poison")
        {
            var error = Assert.Throws<ChangeEventFormatException>(() => new DebeziumDecoder().Decode(shape.Topic, shape.Key, shape.Value, Rules.DecoderHints));
            Assert.Contains(expect.Reason!, error.Message, StringComparison.Ordinal);
            return;
        }

        var decoded = new DebeziumDecoder().Decode(shape.Topic, shape.Key, shape.Value, Rules.DecoderHints);

        Assert.Equal(expect.Kind, decoded.Kind.ToString());
        if (expect.Table is null)
        {
            Assert.Null(decoded.Change);
            return;
        }

        var change = Assert.IsType<ChangeEvent>(decoded.Change);
        Assert.Equal(expect.Table, change.Table);
        Assert.Equal(expect.Op, change.Operation.ToCode());
        var plan = new InvalidationPlanner(Rules).Plan(change);
        Assert.Equal(PlanOutcome.Invalidate, plan.Outcome);
        Assert.Equal(expect.Keys.Order(StringComparer.Ordinal), plan.Keys.Order(StringComparer.Ordinal));
        Assert.Equal(expect.Tags.Order(StringComparer.Ordinal), plan.Tags.Order(StringComparer.Ordinal));
        Assert.Equal(
            expect.Unresolved.Select(u => (u.Template, u.Image, u.Failure)).Order(),
            plan.Unresolved.Select(u => (u.Template, u.Image, u.Failure.ToString())).Order());
        Assert.All(plan.Unresolved, u =>
        {
            Assert.Equal(change.Table, u.Table);
            Assert.Contains(expect.Reason ?? "", u.Reason, StringComparison.Ordinal);
        });
        Assert.DoesNotContain(plan.Keys, expect.Kept.Contains);
        Assert.DoesNotContain(plan.Tags, expect.KeptTags.Contains);
    }

    [Fact]
    public void Every_record_kind_and_every_class_of_the_issue_has_a_record()
    {
        var shapes = RecordShapes.All();

        Assert.All(Enum.GetNames<RecordKind>(), kind => Assert.Contains(shapes, s => s.Expect.Kind == kind));
        Assert.All(Enumerable.Range(1, 9), n => Assert.Contains(shapes, s => s.Name.StartsWith($"class{n}-", StringComparison.Ordinal)));
    }

    [Fact]
    public void Without_the_rules_hints_the_hinted_shapes_decode_as_today()
    {
        // The hints are what changes these records: without them a listed decimal keeps its base64 text, a
        // default-identity before image is taken whole, and a change-log row is read as the envelope it resembles.
        var precise = RecordShapes.Load("class5-decimal-precise-without-schema.json");
        var identity = RecordShapes.Load("class9-delete-under-default-identity.json");
        var changeLog = RecordShapes.Load("format-unwrapped-stated-for-envelope-like-rows.json");

        Assert.Equal(ColumnValue.Of("Oo4="), Column(new DebeziumDecoder().Decode(precise.Topic, precise.Key, precise.Value).Change!.After, "amount"));
        Assert.Equal(ColumnValue.Of("0"), Column(new DebeziumDecoder().Decode(identity.Topic, identity.Key, identity.Value).Change!.Before, "team_id"));
        Assert.Null(new DebeziumDecoder().Decode(changeLog.Topic, changeLog.Key, changeLog.Value).Change!.After!.ColumnNames.FirstOrDefault(c => c == "op"));
    }

    private static ColumnValue Column(RowImage? row, string column)
    {
        Assert.NotNull(row);
        Assert.True(row.TryGet(column, out var value), $"no column {column}");
        return value;
    }
}
