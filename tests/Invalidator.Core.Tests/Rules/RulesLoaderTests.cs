using Invalidator.Core.ChangeEvents;
using Invalidator.Core.Rules;

namespace Invalidator.Core.Tests.Rules;

public class RulesLoaderTests
{
    private const string File = "rules.yaml";

    private static string Yaml(params string[] lines) => string.Join('\n', lines) + "\n";

    private static RuleError SingleError(string yaml)
    {
        var ex = Assert.Throws<RulesException>(() => RulesLoader.Parse(yaml, File));
        return Assert.Single(ex.Errors);
    }

    private static void AssertError(RuleError error, int line, int column, params string[] fragments)
    {
        Assert.Equal(File, error.File);
        Assert.True(line == error.Line && column == error.Column, $"expected {line}:{column}, got {error}");
        foreach (var fragment in fragments)
        {
            Assert.Contains(fragment, error.Message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Loads_every_field()
    {
        var rules = RulesLoader.Parse(Yaml(
            "tables:",
            "  public.customers:",
            "    keys:",
            "      - \"customer:{id}\"",
            "      - \"customer:email:{email|lower}\"",
            "    tags: [\"tenant:{tenant_id}\"]",
            "    ops: [c, u, d, r]",
            "    changed: [email, name]",
            "    truncate: [\"customers:all\"]",
            "  public.orders:",
            "    keys: [\"order:{id}\", \"customer:{customer_id}:orders\"]",
            "    truncate:",
            "      keys: [\"orders:{{all}}\"]",
            "      tags: [orders]"), File);

        Assert.Equal(File, rules.SourcePath);
        Assert.Equal(2, rules.Tables.Count);

        Assert.True(rules.TryGetRule("public.customers", out var customers));
        Assert.Equal(2, customers.Line);
        Assert.Equal(["customer:{id}", "customer:email:{email|lower}"], customers.Keys.Select(k => k.Text));
        Assert.Equal(["tenant:{tenant_id}"], customers.Tags.Select(k => k.Text));
        Assert.Equal(
            [ChangeOperation.Create, ChangeOperation.Update, ChangeOperation.Delete, ChangeOperation.Read, ChangeOperation.Truncate],
            customers.Ops.Order());
        Assert.Equal(["email", "name"], customers.Changed!);
        Assert.Equal(["customers:all"], customers.TruncateKeys);
        Assert.Empty(customers.TruncateTags);

        Assert.True(rules.TryGetRule("public.orders", out var orders));
        Assert.Equal(10, orders.Line);
        Assert.Equal(["order:{id}", "customer:{customer_id}:orders"], orders.Keys.Select(k => k.Text));
        Assert.Equal(["orders:{all}"], orders.TruncateKeys);
        Assert.Equal(["orders"], orders.TruncateTags);
    }

    [Fact]
    public void Defaults_are_inserts_updates_and_deletes_with_no_changed_filter()
    {
        var rules = RulesLoader.Parse(Yaml(
            "tables:",
            "  public.orders:",
            "    keys: [\"order:{id}\"]"), File);

        var rule = rules.Tables["public.orders"];
        Assert.Equal([ChangeOperation.Create, ChangeOperation.Update, ChangeOperation.Delete], rule.Ops.Order());
        Assert.Null(rule.Changed);
        Assert.Empty(rule.Tags);
        Assert.Empty(rule.TruncateKeys);
        Assert.Empty(rule.TruncateTags);
    }

    [Fact]
    public void Truncate_implies_t_when_ops_omit_it()
    {
        var rules = RulesLoader.Parse(Yaml(
            "tables:",
            "  public.a:",
            "    ops: [c]",
            "    truncate: [a]",
            "  public.b:",
            "    truncate: [b]"), File);

        Assert.Equal([ChangeOperation.Create, ChangeOperation.Truncate], rules.Tables["public.a"].Ops.Order());
        Assert.Contains(ChangeOperation.Truncate, rules.Tables["public.b"].Ops);
        Assert.Contains(ChangeOperation.Update, rules.Tables["public.b"].Ops);
    }

    [Fact]
    public void Flow_style_and_anchors_are_accepted()
    {
        var rules = RulesLoader.Parse(Yaml(
            "tables: { public.a: { keys: &k [\"a:{id}\"] }, public.b: { keys: *k } }"), File);

        Assert.Equal("a:{id}", rules.Tables["public.b"].Keys[0].Text);
    }

    [Fact]
    public void Loads_the_example_rules_file()
    {
        var path = FindUp(Path.Combine("deploy", "rules.example.yaml"));

        var rules = RulesLoader.LoadFile(path);

        Assert.Equal(["public.customers", "public.orders"], rules.Tables.Keys.Order(StringComparer.Ordinal));
        var customers = rules.Tables["public.customers"];
        Assert.Equal(2, customers.Keys.Count);
        Assert.NotNull(customers.Changed);
        Assert.Equal(["customers:all"], customers.TruncateKeys);
        Assert.Equal(["customers"], customers.TruncateTags);
        Assert.Equal(["orders:recent"], rules.Tables["public.orders"].TruncateKeys);
        Assert.Equal(TimeSpan.FromMilliseconds(800), rules.Tables["public.orders"].SecondDelete);
        Assert.Null(customers.SecondDelete);
    }

    [Fact]
    public void Missing_file_is_an_error_at_line_zero()
    {
        var path = Path.Combine(Path.GetTempPath(), $"no-such-rules-{Guid.NewGuid():N}.yaml");

        var ex = Assert.Throws<RulesException>(() => RulesLoader.LoadFile(path));

        var error = Assert.Single(ex.Errors);
        Assert.Equal((path, 0, 0), (error.File, error.Line, error.Column));
        Assert.Contains("not found", error.Message, StringComparison.Ordinal);
        Assert.Contains("check the path", error.Message, StringComparison.Ordinal);
        Assert.Equal(error.ToString(), ex.Message);
    }

    [Fact]
    public void Directory_instead_of_a_file_is_an_error()
    {
        var ex = Assert.Throws<RulesException>(() => RulesLoader.LoadFile(Path.GetTempPath()));

        Assert.Contains("is a directory", Assert.Single(ex.Errors).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void LoadFile_reads_a_real_file()
    {
        var path = Path.Combine(Path.GetTempPath(), $"rules-{Guid.NewGuid():N}.yaml");
        System.IO.File.WriteAllText(path, Yaml("tables:", "  public.a:", "    keys: [\"a:{id}\"]"));
        try
        {
            Assert.Equal(path, RulesLoader.LoadFile(path).SourcePath);
        }
        finally
        {
            System.IO.File.Delete(path);
        }
    }

    [Fact]
    public void Unknown_field_names_the_allowed_fields()
    {
        var error = SingleError(Yaml(
            "tables:",
            "  public.a:",
            "    keys: [\"a:{id}\"]",
            "    colour: red"));

        AssertError(error, 4, 5, "unknown field 'colour'", "keys, tags, ops, changed, truncate");
    }

    [Fact]
    public void Unknown_field_suggests_a_near_name()
    {
        var error = SingleError(Yaml(
            "tables:",
            "  public.a:",
            "    key: [\"a:{id}\"]",
            "    tags: [t]"));

        AssertError(error, 3, 5, "did you mean 'keys'?");
    }

    [Fact]
    public void Unknown_top_level_field()
    {
        var error = SingleError(Yaml(
            "tables:",
            "  public.a: { keys: [a] }",
            "version: 2"));

        AssertError(error, 3, 1, "unknown field 'version'", "allowed fields are tables");
    }

    [Fact]
    public void Unknown_filter_points_at_the_filter_inside_the_scalar()
    {
        var error = SingleError(Yaml(
            "tables:",
            "  public.a:",
            "    keys: [\"a:{email|title}\"]"));

        // The scalar's quote is at column 12, so 'title' (index 9 in the value) is at column 22.
        AssertError(error, 3, 22, "unknown filter 'title'", "lower and upper");
    }

    [Fact]
    public void Template_error_in_a_plain_scalar_points_at_the_character()
    {
        var error = SingleError(Yaml(
            "tables:",
            "  public.a:",
            "    keys:",
            "      - a:{id}}"));

        AssertError(error, 4, 15, "unmatched '}'", "'}}'");
    }

    [Fact]
    public void Template_error_in_an_escaped_scalar_points_at_the_scalar()
    {
        var error = SingleError(Yaml(
            "tables:",
            "  public.a:",
            "    keys: [\"\\ta:{id\"]"));

        AssertError(error, 3, 12, "unclosed '{'");
    }

    [Fact]
    public void Unbalanced_brace()
    {
        var error = SingleError(Yaml(
            "tables:",
            "  public.a:",
            "    keys: ['customer:{id']"));

        AssertError(error, 3, 22, "unclosed '{'", "'{{'");
    }

    [Fact]
    public void Empty_template()
    {
        var error = SingleError(Yaml(
            "tables:",
            "  public.a:",
            "    keys: [\"\"]",
            "    tags: [t]"));

        AssertError(error, 3, 13, "empty");
    }

    [Fact]
    public void Empty_list_entry()
    {
        var error = SingleError(Yaml(
            "tables:",
            "  public.a:",
            "    keys:",
            "      -",
            "      - a"));

        Assert.Equal(4, error.Line);
        Assert.Contains("is empty", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Empty_placeholder()
    {
        var error = SingleError(Yaml(
            "tables:",
            "  public.a:",
            "    keys: [\"a:{}\"]"));

        AssertError(error, 3, 15, "empty placeholder", "{id}");
    }

    [Fact]
    public void Whitespace_in_placeholder()
    {
        var error = SingleError(Yaml(
            "tables:",
            "  public.a:",
            "    keys: [\"a:{ id }\"]"));

        AssertError(error, 3, 16, "without spaces");
    }

    [Fact]
    public void Duplicate_table_points_at_the_second_and_names_the_first_line()
    {
        var error = SingleError(Yaml(
            "tables:",
            "  public.a:",
            "    keys: [a]",
            "  public.b:",
            "    keys: [b]",
            "  public.a:",
            "    keys: [c]"));

        AssertError(error, 6, 3, "duplicate table 'public.a'", "line 2", "merge");
    }

    [Fact]
    public void Duplicate_field_points_at_the_second()
    {
        var error = SingleError(Yaml(
            "tables:",
            "  public.a:",
            "    keys: [a]",
            "    keys: [b]"));

        AssertError(error, 4, 5, "duplicate field 'keys'", "line 3");
    }

    [Fact]
    public void Duplicate_list_entry()
    {
        var error = SingleError(Yaml(
            "tables:",
            "  public.a:",
            "    keys: [a, b, a]"));

        AssertError(error, 3, 18, "listed twice", "line 3");
    }

    [Theory]
    [InlineData("x", "unknown op 'x'")]
    [InlineData("m", "op 'm'")]
    [InlineData("C", "unknown op 'C'")]
    public void Bad_op_names_the_valid_codes(string op, string message)
    {
        var error = SingleError(Yaml(
            "tables:",
            "  public.a:",
            "    keys: [a]",
            $"    ops: [c, {op}]"));

        AssertError(error, 4, 14, message, "c (insert), u (update), d (delete), r (snapshot read) and t (truncate)");
    }

    [Fact]
    public void Op_t_without_truncate_entries()
    {
        var error = SingleError(Yaml(
            "tables:",
            "  public.a:",
            "    keys: [a]",
            "    ops: [c, t]"));

        AssertError(error, 4, 14, "op 't'", "truncate:");
    }

    [Fact]
    public void Empty_ops()
    {
        var error = SingleError(Yaml(
            "tables:",
            "  public.a:",
            "    keys: [a]",
            "    ops: []"));

        AssertError(error, 4, 10, "'ops'", "empty");
    }

    [Theory]
    [InlineData("customers")]
    [InlineData("public.customers.extra")]
    [InlineData(".customers")]
    [InlineData("public.")]
    public void Bad_table_name(string name)
    {
        var error = SingleError(Yaml(
            "tables:",
            $"  {name}:",
            "    keys: [a]"));

        AssertError(error, 2, 3, $"'{name}'", "schema.table", "public.customers");
    }

    [Fact]
    public void Yaml_syntax_error_stops_with_its_position()
    {
        var error = SingleError(Yaml(
            "tables:",
            "  public.a:",
            "    keys: [a",
            "  public.b:",
            "    colour: red"));

        // YamlDotNet's scanner gives up without a position here; the error points at the unclosed '['.
        AssertError(error, 3, 11, "YAML syntax error", "unclosed '['");
    }

    [Fact]
    public void Unclosed_flow_list_at_end_of_file_is_a_syntax_error()
    {
        var error = SingleError(Yaml(
            "tables:",
            "  public.a:",
            "    keys: [a"));

        AssertError(error, 4, 1, "YAML syntax error", "',' or ']'");
    }

    [Fact]
    public void Undefined_alias_is_an_error()
    {
        var error = SingleError(Yaml(
            "tables:",
            "  public.a:",
            "    keys: *nope"));

        AssertError(error, 3, 11, "*nope", "&nope");
    }

    [Fact]
    public void Bad_indentation_is_a_syntax_error()
    {
        var error = SingleError(Yaml(
            "tables:",
            "  public.a:",
            "    keys: [a]",
            "     tags: [b]"));

        AssertError(error, 4, 6, "YAML syntax error", "indentation");
    }

    [Fact]
    public void Scalar_where_a_list_is_expected()
    {
        var error = SingleError(Yaml(
            "tables:",
            "  public.a:",
            "    keys: customer:{id}"));

        AssertError(error, 3, 11, "must be a list", "keys: [\"customer:{id}\"]");
    }

    [Fact]
    public void Mapping_where_a_list_is_expected()
    {
        var error = SingleError(Yaml(
            "tables:",
            "  public.a:",
            "    keys: { a: b }"));

        AssertError(error, 3, 11, "must be a list", "a mapping");
    }

    [Fact]
    public void List_where_a_table_mapping_is_expected()
    {
        var error = SingleError(Yaml(
            "tables:",
            "  public.a: [a]"));

        AssertError(error, 2, 13, "must be a mapping", "a list");
    }

    [Fact]
    public void Nested_list_entry_is_the_wrong_type()
    {
        var error = SingleError(Yaml(
            "tables:",
            "  public.a:",
            "    keys: [[a]]"));

        AssertError(error, 3, 12, "single value", "a list");
    }

    [Fact]
    public void Table_that_does_nothing()
    {
        var errors = Assert.Throws<RulesException>(() => RulesLoader.Parse(Yaml(
            "tables:",
            "  public.a:",
            "    ops: [c]",
            "  public.b:"), File)).Errors;

        Assert.Equal(2, errors.Count);
        AssertError(errors[0], 2, 3, "'public.a' does nothing", "keys, tags or truncate");
        AssertError(errors[1], 4, 3, "'public.b' does nothing");
    }

    [Fact]
    public void Empty_changed_list()
    {
        var error = SingleError(Yaml(
            "tables:",
            "  public.a:",
            "    keys: [a]",
            "    changed: []"));

        AssertError(error, 4, 14, "'changed'", "empty");
    }

    [Fact]
    public void Changed_entry_must_be_a_bare_column_name()
    {
        var error = SingleError(Yaml(
            "tables:",
            "  public.a:",
            "    keys: [a]",
            "    changed: [\"{email}\"]"));

        AssertError(error, 4, 16, "not a column name");
    }

    [Fact]
    public void Changed_without_updates_in_ops()
    {
        var error = SingleError(Yaml(
            "tables:",
            "  public.a:",
            "    keys: [a]",
            "    ops: [c, d]",
            "    changed: [email]"));

        AssertError(error, 5, 5, "'u'");
    }

    [Fact]
    public void Truncate_entries_must_be_static()
    {
        var error = SingleError(Yaml(
            "tables:",
            "  public.a:",
            "    keys: [a]",
            "    truncate: [\"all:{tenant}\"]"));

        AssertError(error, 4, 21, "uses column 'tenant'", "static", "truncate has no rows");
    }

    [Fact]
    public void A_broken_truncate_entry_is_reported_once()
    {
        var error = SingleError(Yaml(
            "tables:",
            "  public.a:",
            "    ops: [c, t]",
            "    keys: [a]",
            "    truncate: [\"all:{x}\"]"));

        AssertError(error, 5, 21, "uses column 'x'");
    }

    [Fact]
    public void Truncate_mapping_entries_must_be_static_and_known()
    {
        var errors = Assert.Throws<RulesException>(() => RulesLoader.Parse(Yaml(
            "tables:",
            "  public.a:",
            "    truncate:",
            "      tags: [\"t:{id}\"]",
            "      keyz: [a]"), File)).Errors;

        Assert.Equal(2, errors.Count);
        AssertError(errors[0], 4, 17, "truncate tags", "uses column 'id'");
        AssertError(errors[1], 5, 7, "unknown field 'keyz'", "keys, tags");
    }

    [Fact]
    public void Empty_file()
    {
        AssertError(SingleError(""), 1, 1, "empty", "tables:");
        AssertError(SingleError("# nothing yet\n"), 1, 1, "empty");
    }

    [Fact]
    public void Missing_tables_field()
    {
        var errors = Assert.Throws<RulesException>(() => RulesLoader.Parse(Yaml("table:", "  public.a: { keys: [a] }"), File)).Errors;

        Assert.Equal(2, errors.Count);
        AssertError(errors[0], 1, 1, "unknown field 'table'", "did you mean 'tables'?");
        AssertError(errors[1], 1, 1, "'tables:' field is missing");
    }

    [Fact]
    public void Empty_tables()
    {
        AssertError(SingleError("tables:\n"), 1, 1, "'tables' is empty");
        AssertError(SingleError("tables: {}\n"), 1, 1, "'tables' is empty");
    }

    [Fact]
    public void Top_level_must_be_a_mapping()
    {
        AssertError(SingleError("- a\n"), 1, 1, "top level must be a mapping", "a list");
    }

    [Fact]
    public void Second_document_is_an_error()
    {
        var error = SingleError(Yaml("tables:", "  public.a: { keys: [a] }", "---", "tables: {}"));

        AssertError(error, 3, 1, "second YAML document");
    }

    [Fact]
    public void Collects_all_errors_in_file_order()
    {
        var ex = Assert.Throws<RulesException>(() => RulesLoader.Parse(Yaml(
            "tables:",
            "  customers:",
            "    keys: [\"c:{id|trim}\"]",
            "    ops: [c, x]",
            "  public.orders:",
            "    keys: [\"o:{}\"]",
            "    colour: red",
            "  customers:",
            "    keys: [a]"), File));

        string[] expected =
        [
            "rules.yaml:2:3: table name 'customers'",
            "rules.yaml:3:19: bad template",
            "rules.yaml:4:14: unknown op 'x'",
            "rules.yaml:6:15: bad template",
            "rules.yaml:7:5: unknown field 'colour'",
            "rules.yaml:8:3: duplicate table 'customers'",
        ];
        Assert.Equal(expected.Length, ex.Errors.Count);
        for (var i = 0; i < expected.Length; i++)
        {
            Assert.StartsWith(expected[i], ex.Errors[i].ToString(), StringComparison.Ordinal);
        }

        Assert.Equal(string.Join('\n', ex.Errors), ex.Message);
    }

    private static string FindUp(string relative)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var candidate = Path.Combine(dir.FullName, relative);
            if (System.IO.File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException($"{relative} not found above {AppContext.BaseDirectory}");
    }
}

public class RulesLoaderLeasesTests
{
    private const string File = "rules.yaml";

    [Fact]
    public void Leases_is_off_unless_the_rule_turns_it_on()
    {
        var rules = RulesLoader.Parse("""
            tables:
              public.customers:
                keys: ["customer:{id}"]
                leases: true
              public.orders:
                keys: ["order:{id}"]
                leases: False
              public.items:
                keys: ["item:{id}"]
            """, File);

        Assert.True(rules.Tables["public.customers"].Leases);
        Assert.False(rules.Tables["public.orders"].Leases);
        Assert.False(rules.Tables["public.items"].Leases);
    }

    [Theory]
    [InlineData("leases", " yes", 13, "'yes'", "leases: true")]
    [InlineData("leases", " 1", 13, "'1'", "leases: true")]
    [InlineData("leases", " [true]", 13, "a list", "leases: true")]
    [InlineData("leases", "", 5, "empty", "leases: true")]
    [InlineData("shadow", " yes", 13, "'yes'", "shadow: true")]
    [InlineData("shadow", " on", 13, "'on'", "shadow: true")]
    [InlineData("shadow", " {x: 1}", 13, "a mapping", "shadow: true")]
    [InlineData("shadow", "", 5, "empty", "shadow: true")]
    [InlineData("waitForReplicas", " yes", 22, "'yes'", "waitForReplicas: true")]
    [InlineData("waitForReplicas", " [true]", 22, "a list", "waitForReplicas: true")]
    [InlineData("waitForReplicas", "", 5, "empty", "waitForReplicas: true")]
    public void A_flag_value_other_than_true_or_false_names_the_line_and_the_fix(string field, string value, int column, string what, string fix)
    {
        var ex = Assert.Throws<RulesException>(() => RulesLoader.Parse($$"""
            tables:
              public.customers:
                keys: ["customer:{id}"]
                {{field}}:{{value}}
            """, File));

        var error = Assert.Single(ex.Errors);
        Assert.True(error.Line == 4 && error.Column == column, $"expected 4:{column}, got {error}");
        Assert.Contains($"'{field}' of table 'public.customers' must be true or false", error.Message, StringComparison.Ordinal);
        Assert.Contains(what, error.Message, StringComparison.Ordinal);
        Assert.Contains(fix, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void WaitForReplicas_is_off_unless_the_rule_turns_it_on()
    {
        var rules = RulesLoader.Parse("""
            tables:
              public.customers:
                keys: ["customer:{id}"]
                waitForReplicas: true
              public.orders:
                keys: ["order:{id}"]
                waitForReplicas: false
              public.items:
                keys: ["item:{id}"]
            """, File);

        Assert.True(rules.Tables["public.customers"].WaitForReplicas);
        Assert.False(rules.Tables["public.orders"].WaitForReplicas);
        Assert.False(rules.Tables["public.items"].WaitForReplicas);
        Assert.True(rules.HasReplicaWaitRules);
        Assert.False(RulesLoader.Parse("""
            tables:
              public.items:
                keys: ["item:{id}"]
            """, File).HasReplicaWaitRules);
    }

    [Fact]
    public void A_misspelt_waitForReplicas_field_is_caught_with_a_suggestion()
    {
        var ex = Assert.Throws<RulesException>(() => RulesLoader.Parse("""
            tables:
              public.customers:
                keys: ["customer:{id}"]
                waitForReplica: true
            """, File));

        Assert.Contains("did you mean 'waitForReplicas'?", Assert.Single(ex.Errors).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_misspelt_leases_field_is_caught_with_a_suggestion()
    {
        var ex = Assert.Throws<RulesException>(() => RulesLoader.Parse("""
            tables:
              public.customers:
                keys: ["customer:{id}"]
                lease: true
            """, File));

        Assert.Contains("did you mean 'leases'?", Assert.Single(ex.Errors).Message, StringComparison.Ordinal);
    }
}

public class RulesLoaderSecondDeleteTests
{
    private const string File = "rules.yaml";

    [Fact]
    public void SecondDelete_takes_milliseconds_seconds_or_minutes_and_is_unset_unless_written()
    {
        var rules = RulesLoader.Parse("""
            tables:
              public.customers:
                keys: ["customer:{id}"]
                secondDelete: 800ms
              public.orders:
                keys: ["order:{id}"]
                secondDelete: 2s
              public.invoices:
                keys: ["invoice:{id}"]
                secondDelete: "1m"
              public.notes:
                keys: ["note:{id}"]
                secondDelete: 0s
              public.items:
                keys: ["item:{id}"]
            """, File);

        Assert.Equal(TimeSpan.FromMilliseconds(800), rules.Tables["public.customers"].SecondDelete);
        Assert.Equal(TimeSpan.FromSeconds(2), rules.Tables["public.orders"].SecondDelete);
        Assert.Equal(TimeSpan.FromMinutes(1), rules.Tables["public.invoices"].SecondDelete);
        Assert.Equal(TimeSpan.Zero, rules.Tables["public.notes"].SecondDelete);
        Assert.Null(rules.Tables["public.items"].SecondDelete);
    }

    [Theory]
    [InlineData("secondDelete: 800", 4, 19, "'800', not a duration (a bare number has no unit: '800ms' or '800s'?)")]
    [InlineData("secondDelete: 1.5s", 4, 19, "'1.5s', not a duration")]
    [InlineData("secondDelete: 800 ms", 4, 19, "'800 ms', not a duration")]
    [InlineData("secondDelete: -5s", 4, 19, "'-5s', not a duration")]
    [InlineData("secondDelete: 2h", 4, 19, "'2h', not a duration")]
    [InlineData("secondDelete: soon", 4, 19, "'soon', not a duration")]
    [InlineData("secondDelete: [800ms]", 4, 19, "must be a duration, but it is a list")]
    [InlineData("secondDelete:", 4, 5, "must be a duration, but it is empty")]
    public void A_bad_secondDelete_names_the_line_column_and_the_fix(string line, int errorLine, int column, string what)
    {
        var ex = Assert.Throws<RulesException>(() => RulesLoader.Parse($$"""
            tables:
              public.customers:
                keys: ["customer:{id}"]
                {{line}}
            """, File));

        var error = Assert.Single(ex.Errors);
        Assert.True(error.Line == errorLine && error.Column == column, $"expected {errorLine}:{column}, got {error}");
        Assert.Contains($"'secondDelete' of table 'public.customers'", error.Message, StringComparison.Ordinal);
        Assert.Contains(what, error.Message, StringComparison.Ordinal);
        Assert.Contains("such as 'secondDelete: 800ms'", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_secondDelete_longer_than_ten_minutes_is_refused_with_the_reason()
    {
        var ex = Assert.Throws<RulesException>(() => RulesLoader.Parse("""
            tables:
              public.customers:
                keys: ["customer:{id}"]
                secondDelete: 11m
            """, File));

        var error = Assert.Single(ex.Errors);
        Assert.Equal((4, 19), (error.Line, error.Column));
        Assert.Contains("'secondDelete' of table 'public.customers' is 11m, longer than the limit of 10m", error.Message, StringComparison.Ordinal);
        Assert.Contains("acknowledged only after the second delete", error.Message, StringComparison.Ordinal);
        Assert.Equal(TimeSpan.FromMinutes(10), RulesLoader.Parse("""
            tables:
              public.customers:
                keys: ["customer:{id}"]
                secondDelete: 600000ms
            """, File).Tables["public.customers"].SecondDelete);
    }

    [Fact]
    public void A_misspelt_secondDelete_field_is_caught_with_a_suggestion()
    {
        var ex = Assert.Throws<RulesException>(() => RulesLoader.Parse("""
            tables:
              public.customers:
                keys: ["customer:{id}"]
                seconddelete: 800ms
            """, File));

        Assert.Contains("did you mean 'secondDelete'?", Assert.Single(ex.Errors).Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("250ms", 250)]
    [InlineData("2s", 2_000)]
    [InlineData("1m", 60_000)]
    [InlineData("0ms", 0)]
    public void Durations_read_and_print_exactly(string text, int milliseconds)
    {
        Assert.True(RuleDuration.TryParse(text, out var duration));
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), duration);
        Assert.Equal(milliseconds == 0 ? "0s" : text, RuleDuration.Format(duration));
    }
}

public class RulesLoaderShadowTests
{
    private const string File = "rules.yaml";

    [Fact]
    public void Shadow_is_off_unless_the_rule_turns_it_on()
    {
        var rules = RulesLoader.Parse("""
            tables:
              public.customers:
                keys: ["customer:{id}"]
                shadow: true
              public.orders:
                keys: ["order:{id}"]
                shadow: false
              public.items:
                keys: ["item:{id}"]
            """, File);

        Assert.True(rules.Tables["public.customers"].Shadow);
        Assert.False(rules.Tables["public.orders"].Shadow);
        Assert.False(rules.Tables["public.items"].Shadow);
        Assert.True(rules.HasShadowRules);
        Assert.False(RulesLoader.Parse("tables:\n  public.items:\n    keys: [\"item:{id}\"]\n", File).HasShadowRules);
    }

    [Fact]
    public void A_misspelt_shadow_field_is_caught_with_a_suggestion()
    {
        var ex = Assert.Throws<RulesException>(() => RulesLoader.Parse("""
            tables:
              public.customers:
                keys: ["customer:{id}"]
                shadows: true
            """, File));

        Assert.Contains("did you mean 'shadow'?", Assert.Single(ex.Errors).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadFile_gives_the_text_that_LoadFile_parses_and_the_same_error_for_a_missing_file()
    {
        var directory = Directory.CreateTempSubdirectory("rules-read-").FullName;
        try
        {
            var path = Path.Combine(directory, "rules.yaml");
            System.IO.File.WriteAllText(path, "tables:\n  public.items:\n    keys: [\"item:{id}\"]\n");

            Assert.Equal(System.IO.File.ReadAllText(path), RulesLoader.ReadFile(path));
            var missing = Path.Combine(directory, "missing.yaml");
            var read = Assert.Throws<RulesException>(() => RulesLoader.ReadFile(missing));
            var load = Assert.Throws<RulesException>(() => RulesLoader.LoadFile(missing));
            Assert.Equal(load.Message, read.Message);
            Assert.Contains("rules file not found", read.Message, StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }
}
