using System.Diagnostics;
using System.Text;
using Invalidator.Core.Rules;

namespace Invalidator.Core.Tests.Rules;

/// <summary>
/// Hostile and broken rules files are refused within <see cref="RulesLimits"/>, quickly and in bounded memory, each with
/// file:line and the limit: a nesting bomb, an alias bomb, <c>/dev/zero</c>, a FIFO, a file over the size limit, a file
/// with a hundred thousand errors, and bytes that are not UTF-8.
/// </summary>
public sealed class RulesLimitsTests : IDisposable
{
    private const string Valid = "tables:\n  public.a:\n    keys: [\"a:{id}\"]\n";

    private readonly string _directory = Directory.CreateTempSubdirectory("rules-limits-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string Write(string name, string text) => Write(name, Encoding.UTF8.GetBytes(text));

    private string Write(string name, byte[] bytes)
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static RulesException Refused(Action load)
    {
        var clock = Stopwatch.StartNew();
        var ex = Assert.Throws<RulesException>(load);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(10), $"took {clock.Elapsed}");
        return ex;
    }

    [Fact]
    public void A_nesting_bomb_of_100000_brackets_is_refused_at_the_first_level_too_deep()
    {
        var path = Write("nested.yaml", "tables:\n  public.a:\n    keys: " + new string('[', 100_000) + "\n");

        var error = Assert.Single(Refused(() => RulesLoader.LoadFile(path)).Errors);

        // Level 4 is the keys list: the 33rd level starts 29 brackets further on.
        Assert.Equal((path, 3, 11 + 29), (error.File, error.Line, error.Column));
        Assert.Contains($"deeper than {RulesLimits.DefaultMaxDepth} levels", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Nesting_at_the_depth_limit_is_read_and_one_level_more_is_refused()
    {
        // Control: the same shape one level shallower passes the reader (and fails only as a rules file).
        var limits = new RulesLimits { MaxDepth = 8 };
        var atLimit = "tables:\n  public.a:\n    keys: [[[[[x]]]]]\n"; // keys list at 4, innermost list at 8
        var tooDeep = "tables:\n  public.a:\n    keys: [[[[[[x]]]]]]\n";

        var read = Assert.Throws<RulesException>(() => RulesLoader.Parse(atLimit, "r.yaml", limits));
        Assert.DoesNotContain(read.Errors, e => e.Message.Contains("deeper than", StringComparison.Ordinal));
        var error = Assert.Single(Assert.Throws<RulesException>(() => RulesLoader.Parse(tooDeep, "r.yaml", limits)).Errors);
        Assert.Equal((3, 16), (error.Line, error.Column));
        Assert.Contains("deeper than 8 levels", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Two_thousand_aliases_of_a_large_scalar_are_refused_by_their_expansion()
    {
        var big = new string('k', 100_000);
        var aliases = string.Join(", ", Enumerable.Repeat("*big", 2000));
        var path = Write("aliases.yaml", $"anchors: &big \"{big}\"\ntables:\n  public.a:\n    keys: [{aliases}]\n");
        var allocated = GC.GetAllocatedBytesForCurrentThread();

        var error = Assert.Single(Refused(() => RulesLoader.LoadFile(path)).Errors);

        // The eleventh alias takes the expansion past 1 MiB.
        Assert.Equal((4, 12 + (10 * 6)), (error.Line, error.Column));
        Assert.Contains($"aliases expand to more than {RulesLimits.DefaultMaxBytes} bytes", error.Message, StringComparison.Ordinal);
        Assert.Contains("Invalidator:Rules:MaxBytes", error.Message, StringComparison.Ordinal);
        var used = GC.GetAllocatedBytesForCurrentThread() - allocated;
        Assert.True(used < 64 * 1024 * 1024, $"allocated {used} bytes");
    }

    [Fact]
    public void A_billion_laughs_of_nested_aliases_is_refused()
    {
        var yaml = new StringBuilder("a0: &a0 [\"x:{id}\"]\n");
        for (var i = 1; i <= 30; i++)
        {
            yaml.Append($"a{i}: &a{i} [").AppendJoin(", ", Enumerable.Repeat($"*a{i - 1}", 10)).Append("]\n");
        }

        yaml.Append("tables:\n  public.a:\n    keys: *a30\n");

        var ex = Refused(() => RulesLoader.Parse(yaml.ToString(), "laughs.yaml"));

        Assert.Contains(ex.Errors, e => e.Message.Contains("aliases expand to more than", StringComparison.Ordinal));
    }

    [Fact]
    public void Aliases_within_the_limit_still_work()
    {
        var tables = string.Join(", ", Enumerable.Range(1, 1000).Select(i => $"public.t{i}: {{ keys: *k }}"));

        var rules = RulesLoader.Parse($"tables: {{ public.t0: {{ keys: &k [\"a:{{id}}\", \"b:{{id}}\"] }}, {tables} }}\n", "r.yaml");

        Assert.Equal(1001, rules.Tables.Count);
        Assert.Equal("b:{id}", rules.Tables["public.t1000"].Keys[1].Text);
    }

    [Fact]
    public void Dev_zero_is_refused_as_a_character_device_without_reading_it()
    {
        var allocated = GC.GetAllocatedBytesForCurrentThread();

        var error = Assert.Single(Refused(() => RulesLoader.LoadFile("/dev/zero")).Errors);

        Assert.Equal(("/dev/zero", 0, 0), (error.File, error.Line, error.Column));
        Assert.Contains("is a character device", error.Message, StringComparison.Ordinal);
        Assert.Contains("not a regular file", error.Message, StringComparison.Ordinal);
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - allocated < 1024 * 1024);
    }

    [Fact]
    public async Task A_fifo_is_refused_at_once_where_reading_it_would_block()
    {
        var fifo = Path.Combine(_directory, "rules.fifo");
        using (var mkfifo = Process.Start("mkfifo", fifo))
        {
            await mkfifo.WaitForExitAsync();
            Assert.Equal(0, mkfifo.ExitCode);
        }

        var load = Task.Run(() => RulesLoader.LoadFile(fifo));
        var finished = await Task.WhenAny(load, Task.Delay(TimeSpan.FromSeconds(10)));

        Assert.Same(load, finished);
        var error = Assert.Single((await Assert.ThrowsAsync<RulesException>(() => load)).Errors);
        Assert.Contains("is a FIFO (named pipe)", error.Message, StringComparison.Ordinal);

        // Control: opening the FIFO to read it, as the loader did before, blocks until someone writes to it.
        var blocked = Task.Run(() => File.ReadAllText(fifo));
        Assert.NotSame(blocked, await Task.WhenAny(blocked, Task.Delay(TimeSpan.FromMilliseconds(500))));
        await using (var writer = new FileStream(fifo, FileMode.Open, FileAccess.Write))
        {
            writer.Write("x"u8);
        }

        Assert.Equal("x", await blocked);
    }

    [Fact]
    public void A_symbolic_link_to_a_regular_file_is_read()
    {
        var target = Write("target.yaml", Valid);
        var link = Path.Combine(_directory, "link.yaml");
        File.CreateSymbolicLink(link, target);

        Assert.Single(RulesLoader.LoadFile(link).Tables);
    }

    [Fact]
    public void A_10_MB_file_is_refused_at_the_line_where_it_passes_the_limit_having_read_no_more()
    {
        var line = "# " + new string('x', 97) + "\n"; // 100 bytes
        var text = new StringBuilder(Valid);
        while (text.Length < 10_000_000)
        {
            text.Append(line);
        }

        var path = Write("big.yaml", text.ToString());
        var allocated = GC.GetAllocatedBytesForCurrentThread();

        var error = Assert.Single(Refused(() => RulesLoader.LoadFile(path)).Errors);

        var expectedLine = 3 + ((RulesLimits.DefaultMaxBytes - Valid.Length) / 100) + 1;
        Assert.Equal((path, expectedLine), (error.File, error.Line));
        Assert.Contains($"larger than {RulesLimits.DefaultMaxBytes} bytes", error.Message, StringComparison.Ordinal);
        Assert.Contains("Invalidator:Rules:MaxBytes", error.Message, StringComparison.Ordinal);
        var used = GC.GetAllocatedBytesForCurrentThread() - allocated;
        Assert.True(used < 4 * 1024 * 1024, $"allocated {used} bytes");
    }

    [Fact]
    public void A_file_of_exactly_MaxBytes_is_read_and_one_byte_more_is_refused()
    {
        var limits = new RulesLimits { MaxBytes = 200 };
        var padding = new string('#', 200 - Valid.Length - 1) + "\n";
        var atLimit = Write("at.yaml", Valid + padding);
        var over = Write("over.yaml", Valid + "#" + padding);

        Assert.Single(RulesLoader.LoadFile(atLimit, limits).Tables);
        var error = Assert.Single(Assert.Throws<RulesException>(() => RulesLoader.LoadFile(over, limits)).Errors);
        Assert.Equal(4, error.Line);
        Assert.Contains("larger than 200 bytes", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_file_with_100000_errors_keeps_the_first_50_and_counts_the_rest()
    {
        var ops = string.Join(",", Enumerable.Range(0, 100_000).Select(i => i % 2 == 0 ? "x" : "y"));
        var path = Write("errors.yaml", $"tables:\n  public.a:\n    keys: [\"a:{{id}}\"]\n    ops: [{ops}]\n");
        Assert.True(new FileInfo(path).Length < RulesLimits.DefaultMaxBytes);

        var ex = Refused(() => RulesLoader.LoadFile(path));

        Assert.Equal(100_000, ex.TotalErrors);
        Assert.Equal(RulesLimits.DefaultMaxErrors, ex.Errors.Count);
        Assert.Equal(100_000 - 50, ex.MoreErrors);
        // The first 50 in file order: the two unknown ops, then the repeats, column by column.
        Assert.Contains("unknown op 'x'", ex.Errors[0].Message, StringComparison.Ordinal);
        Assert.Contains("unknown op 'y'", ex.Errors[1].Message, StringComparison.Ordinal);
        Assert.Equal(Enumerable.Range(0, 50).Select(i => 11 + (2 * i)), ex.Errors.Select(e => e.Column));
        Assert.EndsWith("... and 99950 more error(s) (only the first 50 are kept)", ex.Message, StringComparison.Ordinal);
        Assert.True(ex.Message.Length < 50 * 1024, $"message of {ex.Message.Length} chars");
    }

    [Fact]
    public void Error_messages_that_quote_a_large_value_are_cut()
    {
        var path = Write("long.yaml", $"tables:\n  public.a:\n    keys: [\"a:{{{new string('x', 500_000)}\"]\n");

        var error = Assert.Single(Refused(() => RulesLoader.LoadFile(path)).Errors);

        Assert.Contains("bad template", error.Message, StringComparison.Ordinal);
        Assert.Equal(RulesLimits.MaxMessageChars + 3, error.Message.Length);
        Assert.EndsWith("...", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new byte[] { 0xFF }, 3, 16)] // never valid
    [InlineData(new byte[] { 0xC3, 0x28 }, 3, 16)] // a lead byte without its continuation
    [InlineData(new byte[] { 0xED, 0xA0, 0x80 }, 3, 16)] // an encoded surrogate
    public void Bytes_that_are_not_UTF_8_are_an_error_with_line_and_column(byte[] invalid, int line, int column)
    {
        // "é" and "😀" (two UTF-16 characters) before the bad bytes: columns count as YAML positions do.
        var before = Encoding.UTF8.GetBytes("tables:\n  public.a:\n    keys: [\"é😀");
        var after = Encoding.UTF8.GetBytes("\"]\n");
        var path = Write("latin1.yaml", [.. before, .. invalid, .. after]);

        var error = Assert.Single(Refused(() => RulesLoader.LoadFile(path)).Errors);

        Assert.Equal((path, line, column), (error.File, error.Line, error.Column));
        Assert.Contains("not valid UTF-8", error.Message, StringComparison.Ordinal);
        Assert.Contains($"0x{invalid[0]:X2}", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_truncated_character_at_the_end_is_an_error_on_the_last_line()
    {
        var path = Write("cut.yaml", [.. Encoding.UTF8.GetBytes(Valid + "# caf"), 0xC3]);

        var error = Assert.Single(Refused(() => RulesLoader.LoadFile(path)).Errors);

        Assert.Equal((4, 6), (error.Line, error.Column));
    }

    [Fact]
    public void UTF_8_with_a_byte_order_mark_and_UTF_16_with_one_are_read()
    {
        var utf8 = Write("bom8.yaml", [0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes(Valid)]);
        var utf16 = Write("bom16.yaml", [.. Encoding.Unicode.GetPreamble(), .. Encoding.Unicode.GetBytes(Valid)]);

        Assert.Equal(Valid, RulesLoader.ReadFile(utf8));
        Assert.Equal(Valid, RulesLoader.ReadFile(utf16));
    }
}
