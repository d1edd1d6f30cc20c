using System.Globalization;

namespace Invalidator.Benchmarks;

/// <summary>The rows every benchmark adds, printed once at the end as a plain, aligned table.</summary>
internal sealed class ResultTable
{
    private static readonly string[] Header = ["benchmark", "case", "rate", "unit", "detail"];
    private readonly List<string[]> _rows = [];

    public void Add(string benchmark, string @case, double rate, string unit, string detail = "")
    {
        _rows.Add([benchmark, @case, Format(rate), unit, detail]);
        // Also as it happens, so a long run shows progress.
        Console.WriteLine($"  {benchmark} | {@case} | {Format(rate)} {unit} | {detail}");
    }

    public void Print(TextWriter output)
    {
        var widths = Enumerable.Range(0, Header.Length)
            .Select(i => _rows.Select(r => r[i].Length).Append(Header[i].Length).Max())
            .ToArray();
        Write(output, Header, widths);
        output.WriteLine(string.Join("-+-", widths.Select(w => new string('-', w))));
        foreach (var row in _rows)
        {
            Write(output, row, widths);
        }
    }

    public static string Format(double value) => value switch
    {
        >= 100 => value.ToString("N0", CultureInfo.InvariantCulture),
        >= 10 => value.ToString("N1", CultureInfo.InvariantCulture),
        _ => value.ToString("N2", CultureInfo.InvariantCulture),
    };

    private static void Write(TextWriter output, string[] cells, int[] widths)
    {
        // Rates right-aligned, text left-aligned.
        var padded = cells.Select((c, i) => i == 2 ? c.PadLeft(widths[i]) : c.PadRight(widths[i]));
        output.WriteLine(string.Join(" | ", padded).TrimEnd());
    }
}
