namespace Invalidator.Client.Tests;

/// <summary>LSNs in Postgres' text form, as <c>pg_current_wal_lsn()</c> prints them and the worker writes them.</summary>
public sealed class AppliedPositionTests
{
    [Theory]
    [InlineData("0/0", 0UL)]
    [InlineData("16/B374D848", 0x16_B374D848UL)]
    [InlineData("16/b374d848", 0x16_B374D848UL)]
    [InlineData("FFFFFFFF/FFFFFFFF", ulong.MaxValue)]
    public void Parses_and_formats_the_text_form(string text, ulong lsn)
    {
        Assert.True(AppliedPosition.TryParse(text, out var parsed));
        Assert.Equal(lsn, parsed);
        Assert.Equal(text.ToUpperInvariant(), AppliedPosition.Format(lsn));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("16")]
    [InlineData("/1")]
    [InlineData("1/")]
    [InlineData("1/2/3")]
    [InlineData("G/1")]
    [InlineData("100000000/0")]
    [InlineData("-1/0")]
    [InlineData(" 1/0")]
    public void Refuses_what_is_not_an_lsn(string? text)
    {
        Assert.False(AppliedPosition.TryParse(text, out _));
        if (text is not null)
        {
            Assert.Equal("lsn", Assert.Throws<ArgumentException>(() => AppliedPosition.Parse(text, "lsn")).ParamName);
        }
    }

    [Fact]
    public void Text_order_is_not_lsn_order_but_parsed_order_is()
    {
        Assert.True(string.CompareOrdinal("9/0", "10/0") > 0);
        Assert.True(AppliedPosition.Parse("9/0") < AppliedPosition.Parse("10/0"));
        Assert.True(AppliedPosition.Parse("1/FFFFFFFF") < AppliedPosition.Parse("2/0"));
    }
}
