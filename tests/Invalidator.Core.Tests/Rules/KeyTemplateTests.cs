using Invalidator.Core.ChangeEvents;
using Invalidator.Core.Rules;

namespace Invalidator.Core.Tests.Rules;

public class KeyTemplateTests
{
    private static RowImage Row(params (string Column, ColumnValue Value)[] columns) =>
        new(columns.Select(c => KeyValuePair.Create(c.Column, c.Value)));

    [Fact]
    public void Renders_placeholders_between_literals()
    {
        var template = KeyTemplate.Parse("customer:{id}:orders");

        var result = template.Render(Row(("id", ColumnValue.Of("42"))));

        Assert.True(result.Succeeded);
        Assert.Equal("customer:42:orders", result.Value);
        Assert.Null(result.Column);
        Assert.Equal(["id"], template.Columns);
        Assert.False(template.IsStatic);
        Assert.Equal("customer:{id}:orders", template.Text);
    }

    [Fact]
    public void Columns_are_distinct_in_order_of_first_use()
    {
        var template = KeyTemplate.Parse("{b}:{a}:{b|upper}");

        Assert.Equal(["b", "a"], template.Columns);
        Assert.Equal("x:y:X", template.Render(Row(("a", ColumnValue.Of("y")), ("b", ColumnValue.Of("x")))).Value);
    }

    [Theory]
    [InlineData("{email|lower}", "Ann@Example.COM", "ann@example.com")]
    [InlineData("{email|upper}", "Ann@Example.COM", "ANN@EXAMPLE.COM")]
    [InlineData("{email|upper|lower}", "Ann@Example.COM", "ann@example.com")]
    [InlineData("{email|lower|upper}", "Ann@Example.COM", "ANN@EXAMPLE.COM")]
    [InlineData("{email|lower}", "ÉLAN", "élan")]
    [InlineData("{email}", "", "")]
    public void Filters_apply_left_to_right(string text, string value, string expected)
    {
        var result = KeyTemplate.Parse(text).Render(Row(("email", ColumnValue.Of(value))));

        Assert.Equal(expected, result.Value);
    }

    [Fact]
    public void Chained_filters_work_on_long_values()
    {
        var value = new string('A', 1000);

        var result = KeyTemplate.Parse("k:{v|upper|lower}").Render(Row(("v", ColumnValue.Of(value))));

        Assert.Equal("k:" + new string('a', 1000), result.Value);
    }

    [Theory]
    [InlineData("{{literal}}", "{literal}")]
    [InlineData("a{{b}}c", "a{b}c")]
    [InlineData("{{{id}}}", "{7}")]
    [InlineData("x}}{id}{{", "x}7{")]
    public void Doubled_braces_are_literal(string text, string expected)
    {
        Assert.Equal(expected, KeyTemplate.Parse(text).Render(Row(("id", ColumnValue.Of("7")))).Value);
    }

    [Fact]
    public void Static_template_renders_without_any_columns()
    {
        var template = KeyTemplate.Parse("customers:{{all}}");

        var result = template.Render(RowImage.Empty);

        Assert.True(template.IsStatic);
        Assert.Empty(template.Columns);
        Assert.Equal("customers:{all}", result.Value);
        Assert.Same(result.Value, template.Render(RowImage.Empty).Value);
    }

    [Fact]
    public void Missing_column_fails_the_render()
    {
        var result = KeyTemplate.Parse("customer:{id}:{email}").Render(Row(("id", ColumnValue.Of("1"))));

        Assert.False(result.Succeeded);
        Assert.Null(result.Value);
        Assert.Equal(RenderFailure.MissingColumn, result.Failure);
        Assert.Equal("email", result.Column);
    }

    [Fact]
    public void Null_column_fails_the_render()
    {
        var result = KeyTemplate.Parse("customer:email:{email|lower}").Render(Row(("email", ColumnValue.Null)));

        Assert.Equal(new RenderResult(null, RenderFailure.NullColumn, "email"), result);
    }

    [Fact]
    public void Unavailable_column_fails_the_render()
    {
        var result = KeyTemplate.Parse("doc:{id}:{body}").Render(Row(("id", ColumnValue.Of("1")), ("body", ColumnValue.Unavailable)));

        Assert.Equal(new RenderResult(null, RenderFailure.UnavailableColumn, "body"), result);
    }

    [Fact]
    public void First_failing_placeholder_is_reported()
    {
        var result = KeyTemplate.Parse("{a}{b}").Render(Row(("a", ColumnValue.Unavailable)));

        Assert.Equal(RenderFailure.UnavailableColumn, result.Failure);
        Assert.Equal("a", result.Column);
    }

    [Fact]
    public void Column_names_may_hold_dollar_and_digits()
    {
        Assert.Equal("v:1", KeyTemplate.Parse("v:{col$1_x}").Render(Row(("col$1_x", ColumnValue.Of("1")))).Value);
    }

    [Fact]
    public void Render_allocates_only_the_result()
    {
        var template = KeyTemplate.Parse("customer:{id}:email:{email|lower}");
        var row = Row(("id", ColumnValue.Of("42")), ("email", ColumnValue.Of("Ann@Example.com")));
        template.Render(row); // warm up the pool and JIT

        var before = GC.GetAllocatedBytesForCurrentThread();
        var value = template.Render(row).Value;
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        // A string of n chars takes 22 + 2n bytes (rounded up to 8) on 64-bit.
        Assert.Equal("customer:42:email:ann@example.com", value);
        Assert.True(allocated <= 24 + (2 * value!.Length) + 8, $"allocated {allocated} bytes");
    }

    [Theory]
    [InlineData("", 0, "empty")]
    [InlineData("   ", 0, "whitespace")]
    [InlineData("customer:{}", 9, "empty placeholder")]
    [InlineData("customer:{id", 9, "unclosed '{'")]
    [InlineData("customer:{id:{x}", 9, "unclosed '{'")]
    [InlineData("customer:id}", 11, "unmatched '}'")]
    [InlineData("customer:{ id}", 10, "whitespace")]
    [InlineData("customer:{id }", 12, "whitespace")]
    [InlineData("customer:{email| lower}", 16, "whitespace")]
    [InlineData("customer:{email|title}", 16, "unknown filter 'title'")]
    [InlineData("customer:{email|Lower}", 16, "unknown filter 'Lower'")]
    [InlineData("customer:{email|}", 16, "empty filter")]
    [InlineData("customer:{email||lower}", 16, "empty filter")]
    [InlineData("customer:{|lower}", 10, "no column name")]
    public void Syntax_errors_name_the_position_and_the_fix(string text, int position, string message)
    {
        var ex = Assert.Throws<TemplateSyntaxException>(() => KeyTemplate.Parse(text));

        Assert.Equal(position, ex.Position);
        Assert.Contains(message, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_filter_message_names_the_valid_filters()
    {
        var ex = Assert.Throws<TemplateSyntaxException>(() => KeyTemplate.Parse("{a|trim}"));

        Assert.Contains("lower and upper", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Render_is_safe_from_many_threads()
    {
        var template = KeyTemplate.Parse("k:{a}:{b|upper}");
        var failures = 0;
        Parallel.For(0, 2000, i =>
        {
            var row = Row(("a", ColumnValue.Of(i.ToString(System.Globalization.CultureInfo.InvariantCulture))), ("b", ColumnValue.Of("x" + i)));
            if (template.Render(row).Value != $"k:{i}:X{i}")
            {
                Interlocked.Increment(ref failures);
            }
        });

        Assert.Equal(0, failures);
    }
}
