using System.Text;

namespace Invalidator.IntegrationTests.Cli;

/// <summary>
/// <c>explain</c> and <c>rules check</c> on rules files holding the bytes 0xFF 0xFE (never UTF-8; at the very start, a
/// UTF-16 byte order mark): a clear error with file:line:column and a non-zero exit, never a stack trace, never "OK".
/// </summary>
public sealed class InvalidUtf8RulesTests : IDisposable
{
    private static readonly byte[] Bad = [0xFF, 0xFE];
    private static readonly byte[] Valid = Encoding.UTF8.GetBytes("tables:\n  public.customers:\n    keys: [\"customer:{id}\"]\n    tags: [\"tenant:{tenant_id}\"]\n");

    private readonly CliFiles _files = new();
    private readonly string _record;

    public InvalidUtf8RulesTests() =>
        _record = _files.Write("record.json", """{"topic": "dbserver1.public.customers", "key": null, "value": {"op": "c", "after": {"id": 1}, "source": {"schema": "public", "table": "customers"}}}""");

    public void Dispose() => _files.Dispose();

    private string WriteBytes(string name, byte[] content)
    {
        var path = Path.Combine(_files.Directory, name);
        File.WriteAllBytes(path, content);
        return path;
    }

    /// <summary>The valid file with <see cref="Bad"/> put at a byte offset.</summary>
    private static byte[] With(int offset, byte[] bytes) => [.. Valid[..offset], .. bytes, .. Valid[offset..]];

    [Theory]
    [InlineData("in a key template", 40)]
    [InlineData("at the start of a line", 8)]
    [InlineData("at the end", -1)]
    public async Task Rules_check_and_explain_report_the_bytes_with_their_position(string where, int offset)
    {
        offset = offset < 0 ? Valid.Length : offset;
        var path = WriteBytes($"bad-{offset}.yaml", With(offset, Bad));
        var before = Encoding.UTF8.GetString(Valid[..offset]);
        var (line, column) = (before.Count(c => c == '\n') + 1, offset - before.LastIndexOf('\n'));

        var check = await CliFiles.InvokeAsync("rules", "check", path);
        var explain = await CliFiles.InvokeAsync("explain", "--rules", path, "--record", _record);

        Assert.True(check.ExitCode == 1, $"{where}: {check}");
        Assert.Equal(
            $"{path}:{line}:{column}: the rules file is not valid UTF-8: byte 0xFF at byte offset {offset} does not start or continue a UTF-8 character. Save the file as UTF-8",
            check.ErrorLines[0]);
        Assert.True(explain.ExitCode == 2, $"{where}: {explain}");
        Assert.Equal(check.ErrorLines[0], explain.ErrorLines[0]);
        AssertNoStackTrace(check, explain);
        Assert.Equal("", check.Output);
        Assert.Equal("", explain.Output);
    }

    [Fact]
    public async Task At_the_very_start_the_bytes_read_as_a_utf16_byte_order_mark_and_the_text_is_refused_with_its_position()
    {
        var path = WriteBytes("bom.yaml", [.. Bad, .. Valid]);

        var check = await CliFiles.InvokeAsync("rules", "check", path);
        var explain = await CliFiles.InvokeAsync("explain", "--rules", path, "--record", _record);

        Assert.True(check.ExitCode == 1, check.ToString());
        Assert.StartsWith($"{path}:", check.ErrorLines[0], StringComparison.Ordinal);
        Assert.True(explain.ExitCode == 2, explain.ToString());
        Assert.StartsWith($"{path}:", explain.ErrorLines[0], StringComparison.Ordinal);
        AssertNoStackTrace(check, explain);
    }

    [Fact]
    public async Task The_binary_prints_the_error_and_no_stack_trace()
    {
        var path = WriteBytes("bad.yaml", With(40, Bad));

        var check = await _files.RunBinaryAsync("rules", "check", path);
        var explain = await _files.RunBinaryAsync("explain", "--rules", path, "--record", _record);

        Assert.True(check.ExitCode == 1, check.ToString());
        Assert.True(explain.ExitCode == 2, explain.ToString());
        Assert.StartsWith($"{path}:3:13: the rules file is not valid UTF-8", explain.ErrorLines[0], StringComparison.Ordinal);
        AssertNoStackTrace(check, explain);
    }

    [Fact]
    public async Task Bytes_that_are_not_utf8_anywhere_never_give_ok_or_a_stack_trace_generated_inputs()
    {
        var random = new Random(175);
        for (var i = 0; i < 150; i++)
        {
            // One to three bytes of 0x80..0xFF (never valid alone) at random offsets; sometimes the 0xFF 0xFE pair.
            var content = Valid;
            for (var n = random.Next(1, 4); n > 0; n--)
            {
                byte[] bytes = random.Next(3) == 0 ? Bad : [(byte)random.Next(0xF8, 0x100)];
                var at = random.Next(content.Length + 1);
                content = [.. content[..at], .. bytes, .. content[at..]];
            }

            var path = WriteBytes($"mutated-{i}.yaml", content);
            var check = await CliFiles.InvokeAsync("rules", "check", path);
            var explain = await CliFiles.InvokeAsync("explain", "--rules", path, "--record", _record);

            Assert.True(check.ExitCode == 1, $"{Convert.ToHexString(content)}: {check}");
            Assert.True(explain.ExitCode == 2, $"{Convert.ToHexString(content)}: {explain}");
            Assert.All(check.ErrorLines, line => Assert.Contains(path, line, StringComparison.Ordinal));
            AssertNoStackTrace(check, explain);
        }
    }

    private static void AssertNoStackTrace(params CliResult[] results)
    {
        foreach (var result in results)
        {
            Assert.DoesNotContain("   at ", result.Error, StringComparison.Ordinal);
            Assert.DoesNotContain("Exception", result.Error, StringComparison.Ordinal);
        }
    }
}
