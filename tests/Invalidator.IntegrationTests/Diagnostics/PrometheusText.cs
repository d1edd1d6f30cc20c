using System.Globalization;
using System.Text;

namespace Invalidator.IntegrationTests.Diagnostics;

/// <summary>One sample of a Prometheus text exposition: <c>name{label="value",...} 12.5</c>.</summary>
public sealed record PrometheusSample(string Name, IReadOnlyDictionary<string, string> Labels, double Value)
{
    public bool Has(string label, string value) => Labels.TryGetValue(label, out var actual) && actual == value;
}

/// <summary>A small parser of the Prometheus text format (0.0.4), enough to assert on what <c>/metrics</c> serves.</summary>
public static class PrometheusText
{
    public static IReadOnlyList<PrometheusSample> Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var samples = new List<PrometheusSample>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            var nameEnd = line.IndexOfAny(['{', ' ']);
            var name = line[..nameEnd];
            var labels = new Dictionary<string, string>(StringComparer.Ordinal);
            var position = nameEnd;
            if (line[position] == '{')
            {
                position = ParseLabels(line, position + 1, labels);
            }

            var value = line[position..].Trim().Split(' ')[0];
            samples.Add(new PrometheusSample(name, labels, ParseValue(value)));
        }

        return samples;
    }

    /// <summary>Names that have at least one sample.</summary>
    public static ISet<string> Names(IEnumerable<PrometheusSample> samples) => samples.Select(s => s.Name).ToHashSet(StringComparer.Ordinal);

    private static int ParseLabels(string line, int position, Dictionary<string, string> labels)
    {
        while (line[position] != '}')
        {
            var equals = line.IndexOf('=', position);
            var key = line[position..equals].Trim().TrimStart(',').Trim();
            position = equals + 2; // past ="
            var value = new StringBuilder();
            while (line[position] != '"')
            {
                if (line[position] == '\\')
                {
                    position++;
                    value.Append(line[position] == 'n' ? '\n' : line[position]);
                }
                else
                {
                    value.Append(line[position]);
                }

                position++;
            }

            labels[key] = value.ToString();
            position++; // past the closing quote
            if (line[position] == ',')
            {
                position++;
            }
        }

        return position + 1;
    }

    private static double ParseValue(string value) => value switch
    {
        "+Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        "NaN" => double.NaN,
        _ => double.Parse(value, CultureInfo.InvariantCulture),
    };
}
