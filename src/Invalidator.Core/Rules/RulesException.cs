namespace Invalidator.Core.Rules;

/// <summary>One problem in a rules file. Line and column are 1-based; both are 0 when the file could not be read.</summary>
public sealed record RuleError(string File, int Line, int Column, string Message)
{
    public override string ToString() => $"{File}:{Line}:{Column}: {Message}";
}

/// <summary>
/// The rules file is unusable. Holds the errors found, so one <c>rules check</c> run shows them all: at most
/// <see cref="RulesLimits.MaxErrors"/> of them (the first in file order), and <see cref="TotalErrors"/> counts the rest.
/// </summary>
public sealed class RulesException : Exception
{
    public RulesException(IReadOnlyList<RuleError> errors)
        : this(errors, errors?.Count ?? throw new ArgumentNullException(nameof(errors)))
    {
    }

    public RulesException(IReadOnlyList<RuleError> errors, int totalErrors)
        : base(Describe(errors ?? throw new ArgumentNullException(nameof(errors)), totalErrors))
    {
        Errors = [.. errors];
        TotalErrors = Math.Max(totalErrors, Errors.Count);
    }

    /// <summary>The errors kept, in file order.</summary>
    public IReadOnlyList<RuleError> Errors { get; }

    /// <summary>Every error found, including those not kept in <see cref="Errors"/>.</summary>
    public int TotalErrors { get; }

    /// <summary>How many errors were found but not kept: said after the kept ones, wherever they are shown.</summary>
    public int MoreErrors => TotalErrors - Errors.Count;

    private static string Describe(IReadOnlyList<RuleError> errors, int totalErrors)
    {
        var text = string.Join('\n', errors);
        return totalErrors > errors.Count ? $"{text}\n... and {totalErrors - errors.Count} more error(s) (only the first {errors.Count} are kept)" : text;
    }
}

/// <summary>
/// The errors of one load: the first <see cref="RulesLimits.MaxErrors"/> by position (ties in the order found, as a
/// stable sort would give), each message cut to a bounded length, and a count of all of them. Memory stays bounded
/// however many errors a file holds.
/// </summary>
internal sealed class RuleErrorList(int maxErrors)
{
    private readonly List<RuleError> _kept = [];

    /// <summary>Every error added, kept or not.</summary>
    public int Count { get; private set; }

    public void Add(RuleError error)
    {
        Count++;
        if (_kept.Count >= maxErrors && !Before(error, _kept[^1]))
        {
            return;
        }

        if (error.Message.Length > RulesLimits.MaxMessageChars)
        {
            error = error with { Message = string.Concat(error.Message.AsSpan(0, RulesLimits.MaxMessageChars), "...") };
        }

        // After every error at the same spot or before it: the order found, for errors on the same spot.
        var index = _kept.Count;
        while (index > 0 && Before(error, _kept[index - 1]))
        {
            index--;
        }

        _kept.Insert(index, error);
        if (_kept.Count > maxErrors)
        {
            _kept.RemoveAt(_kept.Count - 1);
        }
    }

    public RulesException ToException() => new(_kept, Count);

    private static bool Before(RuleError a, RuleError b) => a.Line < b.Line || (a.Line == b.Line && a.Column < b.Column);
}
