namespace Invalidator.Core.ChangeEvents;

/// <summary>What happened to the row: Debezium's <c>op</c> field.</summary>
public enum ChangeOperation
{
    /// <summary><c>c</c>: a row was inserted.</summary>
    Create,

    /// <summary><c>u</c>: a row was updated.</summary>
    Update,

    /// <summary><c>d</c>: a row was deleted.</summary>
    Delete,

    /// <summary><c>r</c>: a row was read by a snapshot.</summary>
    Read,

    /// <summary><c>t</c>: the table was truncated.</summary>
    Truncate,

    /// <summary><c>m</c>: a logical decoding message (<c>pg_logical_emit_message</c>).</summary>
    Message,
}

/// <summary>Maps between <see cref="ChangeOperation"/> and Debezium's one-letter codes.</summary>
public static class ChangeOperationCodes
{
    public static bool TryParse(string? code, out ChangeOperation operation)
    {
        switch (code)
        {
            case "c": operation = ChangeOperation.Create; return true;
            case "u": operation = ChangeOperation.Update; return true;
            case "d": operation = ChangeOperation.Delete; return true;
            case "r": operation = ChangeOperation.Read; return true;
            case "t": operation = ChangeOperation.Truncate; return true;
            case "m": operation = ChangeOperation.Message; return true;
            default: operation = default; return false;
        }
    }

    public static string ToCode(this ChangeOperation operation) => operation switch
    {
        ChangeOperation.Create => "c",
        ChangeOperation.Update => "u",
        ChangeOperation.Delete => "d",
        ChangeOperation.Read => "r",
        ChangeOperation.Truncate => "t",
        ChangeOperation.Message => "m",
        _ => throw new ArgumentOutOfRangeException(nameof(operation), operation, null),
    };
}
