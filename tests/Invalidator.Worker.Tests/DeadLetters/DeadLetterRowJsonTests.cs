using System.Text;
using System.Text.Json;
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

    [Fact]
    public void A_region_letter_keeps_its_json_and_reads_back()
    {
        var letter = new RegionDeadLetter(
            "east", ["customer:7", "k\"<é>"], ["t1"], "timeout after 3 attempts", 3,
            [new RegionDeadLetter.SourceRange("db.public.customers", 2, 10, 12)], new DateTimeOffset(2026, 3, 1, 12, 0, 0, 5, TimeSpan.FromHours(1)));

        Assert.Equal(Golden.RegionLetter, Encoding.UTF8.GetString(letter.ToJson()));
        Assert.Equal(Golden.RegionPoison, Encoding.UTF8.GetString(letter.ToJson(DeadLetterKinds.Poison)));
        var read = RegionDeadLetter.FromJson(letter.ToJson());
        Assert.Equal(letter.Keys, read.Keys);
        Assert.Equal(letter.Tags, read.Tags);
        Assert.Equal(letter.Sources, read.Sources);
        Assert.Equal((letter.Region, letter.Reason, letter.Attempts, letter.FailedAt), (read.Region, read.Reason, read.Attempts, read.FailedAt));
        Assert.Throws<JsonException>(() => RegionDeadLetter.FromJson(letter.ToJson(DeadLetterKinds.Poison)));
        Assert.Equal(letter.Keys, RegionDeadLetter.FromJson(letter.ToJson(DeadLetterKinds.Poison), DeadLetterKinds.Poison).Keys);
    }

    [Fact]
    public void A_region_letter_without_lists_reads_as_empty_lists()
    {
        var read = RegionDeadLetter.FromJson("""{"kind":"region","letter":{"region":"west","reason":"r","attempts":1,"failedAt":"2026-03-01T12:00:00+00:00"}}"""u8);

        Assert.Equal(("west", 0, 0, 0), (read.Region, read.Keys.Count, read.Tags.Count, read.Sources.Count));
    }
}
