using System.Text;
using Invalidator.Core.ChangeEvents;
using Invalidator.Core.Planning;
using Invalidator.Core.Rules;

namespace Invalidator.Core.Tests.Planning;

/// <summary>
/// <c>Invalidator:Rules:MaxKeyBytes</c>: a rendered key or tag longer than the bound (UTF-8 bytes) is unrenderable,
/// reported with its reason like any template that does not render, and never invalidated.
/// </summary>
public class MaxKeyBytesTests
{
    private const string Rules = """
        tables:
          public.docs:
            keys: ["doc:{id}", "doc:title:{title}"]
            tags: ["title:{title|lower}"]
        """;

    private static readonly RuleSet RuleSet = RulesLoader.Parse(Rules, "rules.yaml");

    private static ChangeEvent Insert(string title) => new(
        "public.docs", ChangeOperation.Create, null,
        new RowImage([KeyValuePair.Create("id", ColumnValue.Of("7")), KeyValuePair.Create("title", ColumnValue.Of(title))]),
        null, null);

    [Fact]
    public void A_key_and_a_tag_over_the_default_1_KiB_are_unresolved_with_the_reason_and_the_others_still_render()
    {
        var planner = new InvalidationPlanner(RuleSet);
        var title = new string('t', 2000);

        var plan = planner.Plan(Insert(title));

        Assert.Equal(["doc:7"], plan.Keys);
        Assert.Empty(plan.Tags);
        Assert.Equal(
            [("doc:title:{title}", RenderFailure.TooLong, "title", 2010), ("title:{title|lower}", RenderFailure.TooLong, "title", 2006)],
            plan.Unresolved.Select(u => (u.Template, u.Failure, u.Column, u.Bytes)).Order());
        Assert.All(plan.Unresolved, u =>
        {
            Assert.Equal("after", u.Image);
            Assert.Contains("over Invalidator:Rules:MaxKeyBytes (1024)", u.Reason, StringComparison.Ordinal);
            Assert.Contains("column 'title'", u.Reason, StringComparison.Ordinal);
        });
    }

    [Fact]
    public void The_bound_is_in_bytes_a_name_of_exactly_the_bound_renders_and_one_byte_more_does_not()
    {
        var planner = new InvalidationPlanner(RuleSet, maxKeyBytes: 100);
        var prefix = "doc:title:".Length;

        Assert.Contains("doc:title:" + new string('a', 100 - prefix), planner.Plan(Insert(new string('a', 100 - prefix))).Keys);
        Assert.DoesNotContain(planner.Plan(Insert(new string('a', 101 - prefix))).Keys, k => k.StartsWith("doc:title:", StringComparison.Ordinal));

        // 46 two-byte characters: 92 bytes plus the prefix is over 100 though it is under 100 characters.
        var wide = new string('é', 46);
        var plan = planner.Plan(Insert(wide));
        Assert.DoesNotContain(plan.Keys, k => k.StartsWith("doc:title:", StringComparison.Ordinal));
        Assert.Contains(plan.Unresolved, u => u.Template == "doc:title:{title}" && u.Bytes == prefix + 92);
    }

    [Fact]
    public void A_too_long_name_from_the_record_key_is_the_report_when_there_is_no_row()
    {
        var planner = new InvalidationPlanner(RulesLoader.Parse("tables:\n  public.docs:\n    keys: [\"doc:{id}\"]\n", "rules.yaml"), maxKeyBytes: 64);
        var key = new RowImage([KeyValuePair.Create("id", ColumnValue.Of(new string('9', 100)))]);

        var plan = planner.Plan(new ChangeEvent("public.docs", ChangeOperation.Delete, null, null, key, null));

        Assert.Empty(plan.Keys);
        var unresolved = Assert.Single(plan.Unresolved);
        Assert.Equal(("key", RenderFailure.TooLong, "id", 104), (unresolved.Image, unresolved.Failure, unresolved.Column, unresolved.Bytes));
    }

    /// <summary>Never: over many random titles (ASCII, two-, three- and four-byte characters), a name is planned exactly when it fits.</summary>
    [Fact]
    public void Generated_titles_a_name_is_planned_if_and_only_if_its_UTF8_bytes_fit_in_both_planning_paths()
    {
        const int Limit = 300;
        var planner = new InvalidationPlanner(RuleSet, Limit);
        var records = new OnePassPlanner(planner, RuleSet, new DebeziumDecoder());
        var random = new Random(17);
        string[] alphabet = ["a", "Z", "é", "ß", "€", "中", "😀"];
        for (var i = 0; i < 3000; i++)
        {
            var title = new StringBuilder();
            var length = random.Next(0, 320);
            for (var c = 0; c < length; c++)
            {
                title.Append(alphabet[random.Next(alphabet.Length)]);
            }

            var change = Insert(title.ToString());
            var key = "doc:title:" + change.After!.Columns.Single(c => c.Key == "title").Value.Text;
            var tag = "title:" + title.ToString().ToLowerInvariant();
            var plan = planner.Plan(change);
            Assert.Equal(Encoding.UTF8.GetByteCount(key) <= Limit, plan.Keys.Contains(key));
            Assert.Equal(Encoding.UTF8.GetByteCount(tag) <= Limit, plan.Tags.Contains(tag));
            Assert.All(plan.Keys.Concat(plan.Tags), name => Assert.True(Encoding.UTF8.GetByteCount(name) <= Limit, name));
            Assert.Equal(plan.Unresolved.Count, plan.Unresolved.Count(u => u.Failure == RenderFailure.TooLong && u.Bytes > Limit));

            var batch = new InvalidationBatch();
            var fast = records.Plan(change, batch);
            Assert.Equal(plan.Keys.Order(StringComparer.Ordinal), batch.Keys.Order(StringComparer.Ordinal));
            Assert.Equal(plan.Tags.Order(StringComparer.Ordinal), batch.Tags.Order(StringComparer.Ordinal));
            Assert.Equal(plan.Unresolved.Select(u => u.Reason), fast.Unresolved.Select(u => u.Reason));
        }
    }
}
