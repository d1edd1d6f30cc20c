using Invalidator.Core.ChangeEvents;
using Invalidator.Core.Rules;

namespace Invalidator.Core.Tests.Rules;

/// <summary><see cref="KeyTemplate.Matches(string)"/>: could some row render this key? Placeholders are wildcards.</summary>
public class KeyTemplateMatchingTests
{
    [Theory]
    [InlineData("customer:{id}", "customer:7")]
    [InlineData("customer:{id}:orders", "customer:7:orders")]
    [InlineData("customer:{id}:orders", "customer:7orders:orders")] // the value may hold the next literal's letters
    [InlineData("customer:{id}", "customer:ann@example.com")] // '@' and '.' are not this template's separators
    [InlineData("{tenant}:{id}", "3:7")]
    [InlineData("{a}{b}", "xy")]
    [InlineData("x{a}", "x1")]
    [InlineData("{a}x", "1x")]
    [InlineData("{a}", "anything at all")]
    [InlineData("customers:all", "customers:all")]
    [InlineData("{{literal}}:{id}", "{literal}:1")]
    [InlineData("customer:email:{email|lower}", "customer:email:ann@example.com")]
    [InlineData("customer:email:{email|lower}", "customer:email:élan@x")]
    [InlineData("code:{code|upper}", "code:AB-12")]
    [InlineData("code:{code|lower|upper}", "code:AB")]
    [InlineData("{{customer:{id}}}:profile", "{customer:7}:profile")]
    public void A_key_the_template_could_render_matches(string template, string key) =>
        Assert.True(KeyTemplate.Parse(template).Matches(key), $"{template} should match {key}");

    [Theory]
    [InlineData("customer:{id}", "customer:")] // a placeholder is never empty
    [InlineData("customer:{id}", "customer")]
    [InlineData("customer:{id}", "customers:7")]
    [InlineData("customer:{id}", "xcustomer:7")]
    [InlineData("customer:{id}:orders", "customer:7:order")]
    [InlineData("customer:{id}:orders", "customer::orders")]
    [InlineData("{a}{b}", "x")]
    [InlineData("{tenant}:{id}", "3:")]
    [InlineData("{tenant}:{id}", ":7")]
    [InlineData("customers:all", "customers:all:1")]
    [InlineData("customers:all", "Customers:all")]
    [InlineData("customer:email:{email|lower}", "customer:email:Ann@example.com")] // lower never leaves a capital
    [InlineData("customer:email:{email|lower}", "customer:email:ÉLAN")]
    [InlineData("code:{code|upper}", "code:ab")]
    [InlineData("code:{code|upper|lower}", "code:AB")] // the last filter decides
    [InlineData("{{literal}}:{id}", "{{literal}}:1")]
    [InlineData("customer:{id}", "customer:7:orders")] // a placeholder does not span the template's separator
    [InlineData("{tenant}:{id}", "a:b:c")]
    [InlineData("{region}:{id}:{kind}", "eu:1:2:3")]
    [InlineData("user_{id}", "user_7_avatar")]
    public void A_key_no_row_could_render_does_not_match(string template, string key) =>
        Assert.False(KeyTemplate.Parse(template).Matches(key), $"{template} should not match {key}");

    [Theory]
    [InlineData("customer:{id}", "customer:7:orders")]
    [InlineData("page:{url}", "page:https://example.com/a")]
    [InlineData("{region}:{id}:{kind}", "eu:1:2:3")]
    [InlineData("customer:{id}:orders", "customer::orders:orders")]
    public void Placeholders_that_match_anything_span_separators(string template, string key)
    {
        Assert.True(KeyTemplate.Parse(template).Matches(key, PlaceholderMatching.Anything));
        Assert.False(KeyTemplate.Parse(template).Matches(key, PlaceholderMatching.WithinSegment));
    }

    [Theory]
    [InlineData("customer:{id}", "customer:")]
    [InlineData("code:{code|upper}", "code:ab")]
    [InlineData("customers:all", "customers:all:1")]
    public void Placeholders_that_match_anything_still_keep_literals_filters_and_length(string template, string key) =>
        Assert.False(KeyTemplate.Parse(template).Matches(key, PlaceholderMatching.Anything));

    [Fact]
    public void A_letter_outside_the_basic_plane_is_judged_as_one_letter()
    {
        // U+10400 DESERET CAPITAL LONG I lower-cases to U+10428: two UTF-16 units each.
        var template = KeyTemplate.Parse("k:{v|lower}");

        Assert.True(template.Matches("k:\U00010428"));
        Assert.False(template.Matches("k:\U00010400"));
    }

    [Theory]
    [InlineData("customer:{id}", "42")]
    [InlineData("customer:email:{email|lower}", "Ann@Example.COM")]
    [InlineData("{a}:{a|upper}", "x:y")]
    [InlineData("{a}{a}", "ab")]
    [InlineData("k:{a}:", "x")]
    [InlineData("page:{a}", "https://example.com")]
    public void Whatever_a_template_renders_it_matches_with_placeholders_that_match_anything(string text, string value)
    {
        var template = KeyTemplate.Parse(text);
        var rendered = template.Render(new RowImage([KeyValuePair.Create("a", ColumnValue.Of(value)), KeyValuePair.Create("id", ColumnValue.Of(value)), KeyValuePair.Create("email", ColumnValue.Of(value))]));

        Assert.True(rendered.Succeeded);
        Assert.True(template.Matches(rendered.Value!, PlaceholderMatching.Anything), $"{text} rendered {rendered.Value} but does not match it");
    }

    [Fact]
    public void Many_separators_in_a_key_do_not_blow_up_the_search()
    {
        var template = KeyTemplate.Parse("{a}-{b}-{c}-{d}-end");
        var key = string.Join('-', Enumerable.Range(0, 400)) + "-nope";

        Assert.False(template.Matches(key, PlaceholderMatching.Anything));
        Assert.True(template.Matches(string.Join('-', Enumerable.Range(0, 400)) + "-end", PlaceholderMatching.Anything));
    }
}
