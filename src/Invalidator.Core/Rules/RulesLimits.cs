namespace Invalidator.Core.Rules;

/// <summary>
/// What a rules file may cost to read, so a hostile or broken file (a FIFO, <c>/dev/zero</c>, a nesting or alias
/// bomb, a file with a hundred thousand errors) is refused with a clear error instead of hanging or exhausting the
/// process that reads it: the worker at start and on every reload, <c>rules check</c> and <c>explain</c>.
/// </summary>
public sealed record RulesLimits
{
    /// <summary>1 MiB: a rules file of a few hundred tables is a few tens of KiB.</summary>
    public const int DefaultMaxBytes = 1024 * 1024;

    /// <summary>A rules file nests about six levels deep (top level, tables, a table, truncate, keys, an entry).</summary>
    public const int DefaultMaxDepth = 32;

    /// <summary>The errors kept and shown of a refused file; the rest are only counted.</summary>
    public const int DefaultMaxErrors = 50;

    /// <summary>The limits the worker uses unless <c>Invalidator:Rules:MaxBytes</c> says otherwise.</summary>
    public static RulesLimits Default { get; } = new();

    /// <summary>
    /// <c>Invalidator:Rules:MaxBytes</c>: the largest rules file read, and the most text YAML aliases may expand to
    /// (an alias repeats its anchor's content, so a small file could otherwise stand for gigabytes).
    /// </summary>
    public int MaxBytes { get; init; } = DefaultMaxBytes;

    /// <summary>The deepest nesting of lists and mappings accepted.</summary>
    public int MaxDepth { get; init; } = DefaultMaxDepth;

    /// <summary>The errors kept (the first ones in file order); <see cref="RulesException.TotalErrors"/> counts them all.</summary>
    public int MaxErrors { get; init; } = DefaultMaxErrors;

    /// <summary>The longest error message kept: a message may quote a value from the file, which can be large.</summary>
    internal const int MaxMessageChars = 1000;
}
