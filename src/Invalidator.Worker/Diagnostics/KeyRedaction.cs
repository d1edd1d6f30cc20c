using System.Security.Cryptography;
using System.Text;
using Invalidator.Core.Rules;
using Invalidator.Worker.Options;
using Microsoft.Extensions.Options;

namespace Invalidator.Worker.Diagnostics;

/// <summary>
/// How the worker shows a key or tag it gives as an example (the status page, <c>/status.json</c>, the logs): keys hold
/// row values, often personal data (<c>customer:email:carol@example.com</c>). Unless
/// <c>Invalidator:Diagnostics:ShowKeys</c> is true, a name is shown as the template it was rendered from and the first
/// 8 hex digits of the SHA-256 of the whole name (<c>customer:email:{email} #3f2a9c1e</c>): the same key always shows
/// the same hash, and an operator can check a guess (<c>printf %s 'customer:email:carol@example.com' | sha256sum</c>)
/// without the page showing it. A static name (no placeholder) holds no value and is shown as it is. Either way, control
/// characters are escaped. Metrics never carry keys at all.
/// </summary>
internal sealed class KeyRedaction(bool showKeys)
{
    /// <summary>As <c>Invalidator:Diagnostics:ShowKeys</c> says (the host's).</summary>
    public KeyRedaction(IOptions<InvalidatorOptions> options)
        : this(options?.Value.Diagnostics.ShowKeys ?? throw new ArgumentNullException(nameof(options)))
    {
    }

    /// <summary>Redacting: the default.</summary>
    public static KeyRedaction Redacting { get; } = new(showKeys: false);

    /// <summary><c>Invalidator:Diagnostics:ShowKeys</c>.</summary>
    public bool ShowKeys { get; } = showKeys;

    /// <summary>
    /// A planner example (<c>key &lt;name&gt;</c> or <c>tag &lt;name&gt;</c>) of a change of <paramref name="rule"/>'s
    /// table, shown as this redaction says; null for null.
    /// </summary>
    public string? Example(string? example, TableRule? rule)
    {
        if (example is null)
        {
            return null;
        }

        var space = example.IndexOf(' ', StringComparison.Ordinal);
        if (space < 0)
        {
            return Name(example, []);
        }

        var kind = example[..space];
        var name = example[(space + 1)..];
        return kind == "tag"
            ? $"{kind} {Name(name, rule?.Tags ?? [], rule?.TruncateTags)}"
            : $"{kind} {Name(name, rule?.Keys ?? [], rule?.TruncateKeys)}";
    }

    /// <summary>A key or tag rendered from one of <paramref name="templates"/> (or one of the <paramref name="staticNames"/>).</summary>
    public string Name(string name, IReadOnlyList<KeyTemplate> templates, IReadOnlyList<string>? staticNames = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(templates);
        if (ShowKeys || (staticNames is not null && staticNames.Contains(name, StringComparer.Ordinal)))
        {
            return LogText.Escape(name);
        }

        // The most specific template that could have rendered it (placeholders within a segment first).
        var template = templates.Where(t => t.Matches(name)).MaxBy(t => t.Text.Length)
            ?? templates.Where(t => t.Matches(name, PlaceholderMatching.Anything)).MaxBy(t => t.Text.Length);
        return template is { IsStatic: true }
            ? LogText.Escape(name)
            : $"{LogText.Escape(template?.Text ?? "(no template)")} #{Hash(name)}";
    }

    /// <summary>The first 8 hex digits of the SHA-256 of the name's UTF-8 bytes.</summary>
    public static string Hash(string name) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(name)))[..8];
}
