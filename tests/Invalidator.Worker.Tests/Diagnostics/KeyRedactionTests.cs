using System.Security.Cryptography;
using System.Text;
using Invalidator.Core.Rules;
using Invalidator.Worker.Diagnostics;

namespace Invalidator.Worker.Tests.Diagnostics;

/// <summary>
/// A redacted example never carries the value it was rendered from, whatever the value (generated: text, separators,
/// control characters, surrogates); a shown one never carries a raw control character.
/// </summary>
public sealed class KeyRedactionTests
{
    private static readonly KeyTemplate Email = KeyTemplate.Parse("customer:email:{email}");
    private static readonly KeyTemplate Id = KeyTemplate.Parse("customer:{id}");
    private static readonly KeyTemplate Url = KeyTemplate.Parse("page:{url}");

    private static readonly TableRule Rule = new()
    {
        Table = "public.customers",
        Keys = [Id, Email, Url],
        Tags = [KeyTemplate.Parse("tenant:{tenant_id}")],
        TruncateKeys = ["customers:all"],
    };

    [Fact]
    public void A_redacted_example_is_its_template_and_the_hash_of_the_whole_name_for_10000_generated_values()
    {
        var random = new Random(17);
        for (var i = 0; i < 10_000; i++)
        {
            var value = RandomValue(random);
            foreach (var (template, name) in new[] { (Email, "customer:email:" + value), (Url, "page:" + value) })
            {
                var shown = KeyRedaction.Redacting.Example("key " + name, Rule)!;

                // The value is gone: only the template's own text and 8 hex digits remain.
                var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(name)))[..8];
                Assert.True(
                    shown == $"key {template.Text} #{hash}" || shown == $"key {Id.Text} #{hash}" || shown == $"key {Email.Text} #{hash}",
                    $"value {Escape(value)} shown as {Escape(shown)}");
                Assert.DoesNotContain(shown, char.IsControl);
            }
        }
    }

    [Fact]
    public void A_shown_example_keeps_the_key_with_its_control_characters_escaped_for_10000_generated_values()
    {
        var showing = new KeyRedaction(showKeys: true);
        var random = new Random(23);
        for (var i = 0; i < 10_000; i++)
        {
            var value = RandomValue(random);
            var shown = showing.Example("key customer:email:" + value, Rule)!;

            Assert.DoesNotContain(shown, char.IsControl);
            Assert.Equal("key customer:email:" + value, Unescape(shown));
        }
    }

    [Fact]
    public void Static_names_hold_no_value_and_are_shown_as_they_are()
    {
        Assert.Equal("key customers:all", KeyRedaction.Redacting.Example("key customers:all", Rule));
        Assert.Equal($"tag tenant:{{tenant_id}} #{KeyRedaction.Hash("tenant:7")}", KeyRedaction.Redacting.Example("tag tenant:7", Rule));
        Assert.Equal($"key (no template) #{KeyRedaction.Hash("other:1")}", KeyRedaction.Redacting.Example("key other:1", Rule));
        Assert.Null(KeyRedaction.Redacting.Example(null, Rule));
    }

    [Fact]
    public void Log_text_escapes_every_control_character_and_nothing_else()
    {
        Assert.Equal("a\\nb\\r\\tc\\u001b[31m\\u0000\\u2028é😀", LogText.Escape("a\nb\r\tc\u001b[31m\0\u2028é😀"));
        Assert.Same("plain", LogText.Escape("plain"));
    }

    private static string RandomValue(Random random)
    {
        const string Alphabet = "abcXYZ019@._:-/?&=%{}| \n\r\t\u001b\0\u0085\u2028éß中😀";
        var length = random.Next(1, 40);
        var text = new StringBuilder(length);
        for (var i = 0; i < length; i++)
        {
            var at = random.Next(Alphabet.Length);
            // Keep surrogate pairs whole.
            if (char.IsSurrogate(Alphabet[at]))
            {
                at = char.IsHighSurrogate(Alphabet[at]) ? at : at - 1;
                text.Append(Alphabet, at, 2);
            }
            else
            {
                text.Append(Alphabet[at]);
            }
        }

        return text.ToString();
    }

    private static string Escape(string text) => LogText.Escape(text);

    private static string Unescape(string text)
    {
        var result = new StringBuilder();
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] != '\\' || i + 1 >= text.Length)
            {
                result.Append(text[i]);
                continue;
            }

            switch (text[i + 1])
            {
                case 'n': result.Append('\n'); i++; break;
                case 'r': result.Append('\r'); i++; break;
                case 't': result.Append('\t'); i++; break;
                case 'u' when i + 5 < text.Length && IsHex(text.AsSpan(i + 2, 4)):
                    result.Append((char)Convert.ToInt32(text.Substring(i + 2, 4), 16));
                    i += 5;
                    break;
                default: result.Append(text[i]); break;
            }
        }

        return result.ToString();
    }

    private static bool IsHex(ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            if (!char.IsAsciiHexDigit(c))
            {
                return false;
            }
        }

        return true;
    }
}
