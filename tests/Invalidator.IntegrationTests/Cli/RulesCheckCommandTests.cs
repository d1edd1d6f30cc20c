using Invalidator.Worker.RulesReload;

namespace Invalidator.IntegrationTests.Cli;

/// <summary><c>rules check &lt;file&gt;</c>, in process: a summary line, or one <c>file:line:column: reason</c> per error.</summary>
public sealed class RulesCheckCommandTests : IDisposable
{
    private readonly CliFiles _files = new();

    public void Dispose() => _files.Dispose();

    [Fact]
    public async Task Example_rules_file_passes_with_a_one_line_summary()
    {
        var result = await CliFiles.InvokeAsync("rules", "check", CliFiles.ExampleRules);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal($"{CliFiles.ExampleRules}: OK, 2 tables, 4 key templates, 1 tag templates (version {LoadedRules.VersionOf(File.ReadAllText(CliFiles.ExampleRules))}){Environment.NewLine}{CliFiles.BuiltInCanaryLine}{Environment.NewLine}", result.Output);
        Assert.Equal("", result.Error);
    }

    public static TheoryData<string, string, int, int, string> Errors => new()
    {
        {
            "unknown field",
            "tables:\n  public.customers:\n    keys: [\"customer:{id}\"]\n    tag: [\"tenant:{tenant_id}\"]\n",
            4, 5, "unknown field 'tag' in table 'public.customers': did you mean 'tags'?"
        },
        {
            "unknown filter",
            "tables:\n  public.customers:\n    keys: [\"customer:{email|title}\"]\n",
            3, 29, "unknown filter 'title': the filters are lower and upper"
        },
        {
            "unclosed brace",
            "tables:\n  public.customers:\n    keys:\n      - \"customer:{id\"\n",
            4, 19, "unclosed '{'"
        },
        {
            "unmatched closing brace",
            "tables:\n  public.customers:\n    keys:\n      - \"customer:id}\"\n",
            4, 21, "unmatched '}'"
        },
        {
            "empty template",
            "tables:\n  public.customers:\n    keys: [\"customer:{id}\", \"\"]\n",
            3, 30, "the template is empty"
        },
        {
            "duplicate table",
            "tables:\n  public.customers:\n    keys: [\"customer:{id}\"]\n  public.orders:\n    keys: [\"order:{id}\"]\n  public.customers:\n    keys: [\"c:{id}\"]\n",
            6, 3, "duplicate table 'public.customers' (first defined on line 2)"
        },
        {
            "bad op",
            "tables:\n  public.customers:\n    keys: [\"customer:{id}\"]\n    ops: [c, x, d]\n",
            4, 14, "unknown op 'x': valid ops are c (insert), u (update), d (delete), r (snapshot read) and t (truncate)"
        },
        {
            "bad leases",
            "tables:\n  public.customers:\n    keys: [\"customer:{id}\"]\n    leases: always\n",
            4, 13, "'leases' of table 'public.customers' must be true or false, but it is 'always'"
        },
        {
            "second delete without a unit",
            "tables:\n  public.customers:\n    keys: [\"customer:{id}\"]\n    secondDelete: 800\n",
            4, 19, "'secondDelete' of table 'public.customers' is '800', not a duration (a bare number has no unit: '800ms' or '800s'?)"
        },
        {
            "second delete too long",
            "tables:\n  public.customers:\n    keys: [\"customer:{id}\"]\n    secondDelete: 2h\n",
            4, 19, "'secondDelete' of table 'public.customers' is '2h', not a duration"
        },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public async Task Each_error_kind_exits_non_zero_with_file_line_and_column(string kind, string yaml, int line, int column, string reason)
    {
        var path = _files.Write($"{kind.Replace(' ', '-')}.yaml", yaml);

        var result = await CliFiles.InvokeAsync("rules", "check", path);

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("", result.Output);
        Assert.Equal(2, result.ErrorLines.Count);
        Assert.StartsWith($"{path}:{line}:{column}: ", result.ErrorLines[0], StringComparison.Ordinal);
        Assert.Contains(reason, result.ErrorLines[0], StringComparison.Ordinal);
        Assert.Equal($"1 error(s) in {path}", result.ErrorLines[1]);
    }

    [Fact]
    public async Task Every_error_in_a_file_is_reported_in_one_run_top_to_bottom()
    {
        var path = _files.Write("two-errors.yaml", "tables:\n  public.customers:\n    keyz: [\"customer:{id}\"]\n    ops: [q]\n");

        var result = await CliFiles.InvokeAsync("rules", "check", path);

        Assert.Equal(1, result.ExitCode);
        Assert.Equal(3, result.ErrorLines.Count);
        Assert.StartsWith($"{path}:3:5: unknown field 'keyz'", result.ErrorLines[0], StringComparison.Ordinal);
        Assert.StartsWith($"{path}:4:11: unknown op 'q'", result.ErrorLines[1], StringComparison.Ordinal);
        Assert.Equal($"2 error(s) in {path}", result.ErrorLines[2]);
    }

    [Fact]
    public async Task Missing_file_exits_non_zero_naming_it()
    {
        var missing = Path.Combine(_files.Directory, "absent.yaml");

        var result = await CliFiles.InvokeAsync("rules", "check", missing);

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith($"{missing}:0:0: rules file not found at '{missing}'", result.ErrorLines[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_rules_file_with_second_deletes_passes()
    {
        const string Text = "tables:\n  public.customers:\n    keys: [\"customer:{id}\"]\n    secondDelete: 800ms\n  public.orders:\n    keys: [\"order:{id}\"]\n    secondDelete: 2s\n";
        var path = _files.Write("second.yaml", Text);

        var result = await CliFiles.InvokeAsync("rules", "check", path);

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal($"{path}: OK, 2 tables, 2 key templates, 0 tag templates (version {LoadedRules.VersionOf(Text)}){Environment.NewLine}{CliFiles.BuiltInCanaryLine}{Environment.NewLine}", result.Output);
    }
}
