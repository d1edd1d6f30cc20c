using Invalidator.Core.ChangeEvents;
using Invalidator.Worker.DeadLetters;
using Invalidator.Worker.Sources.Postgres;

namespace Invalidator.Worker.Tests.DeadLetters;

/// <summary>
/// The dead-letter rows are read back by <c>dlq replay</c> (and by people): a change and a raw record keep exactly the
/// JSON the hand-written writer made, and a change reads back as it was written.
/// </summary>
public sealed class DeadLetterRowJsonTests
{
    private static readonly ChangeEvent Change = new(
        "public.customers",
        ChangeOperation.Update,
        new RowImage([KeyValuePair.Create("id", ColumnValue.Of("7")), KeyValuePair.Create("name", ColumnValue.Of("Zoë \"<b>\"")), KeyValuePair.Create("note", ColumnValue.Null)]),
        new RowImage([KeyValuePair.Create("id", ColumnValue.Of("7")), KeyValuePair.Create("blob", ColumnValue.Unavailable), KeyValuePair.Create("name", ColumnValue.Of("Zoe"))]),
        null,
        new DateTimeOffset(2026, 3, 1, 12, 0, 0, 123, TimeSpan.Zero));

    [Fact]
    public void A_change_keeps_its_row_json_and_reads_back()
    {
        var json = ChangeEventJson.Write(Change, "0/16B3748");

        Assert.Equal(Golden.Change, json);
        var read = ChangeEventJson.Read(json);
        Assert.Equal(Change.Table, read.Table);
        Assert.Equal(Change.Operation, read.Operation);
        Assert.Equal(Change.CommitTime, read.CommitTime);
        Assert.Equal(["id", "name", "note"], read.Before!.Columns.Select(c => c.Key));
        Assert.Equal(["id", "name"], read.After!.Columns.Select(c => c.Key));
        Assert.Null(read.Key);
    }

    [Fact]
    public void A_change_without_commit_time_or_images_keeps_its_row_json()
    {
        Assert.Equal(Golden.ChangeBare, ChangeEventJson.Write(new ChangeEvent("public.t", ChangeOperation.Delete, null, null, null, null), "7"));
    }

    [Fact]
    public void A_raw_record_keeps_its_row_json()
    {
        Assert.Equal(Golden.Raw, PostgresDeadLetterWriter.RawJson(new RawRecordContent("db.public.t", [1, 2, 250], [0x7b, 0x7d], [], null)));
        Assert.Equal(Golden.RawNull, PostgresDeadLetterWriter.RawJson(new RawRecordContent("db.public.t", null, null, [], null)));
    }
}
