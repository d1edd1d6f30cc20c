namespace Invalidator.Worker.Options;

/// <summary>Where changes come from: <c>Invalidator:Source</c>.</summary>
internal enum ChangeSourceKind
{
    /// <summary>Debezium change events from Kafka topics (<c>Invalidator:Kafka</c>).</summary>
    Kafka,

    /// <summary>Postgres logical replication read directly with pgoutput (<c>Invalidator:Postgres</c>).</summary>
    Postgres,
}

/// <summary><c>Invalidator:Postgres</c>: the direct source. Validated only when <c>Invalidator:Source</c> is <c>Postgres</c>.</summary>
internal sealed class PostgresOptions
{
    public const string DefaultName = "invalidator";

    /// <summary><c>Invalidator:Postgres:ConnectionString</c>: an Npgsql connection string; the user needs the REPLICATION attribute.</summary>
    public string ConnectionString { get; set; } = "";

    /// <summary>
    /// <c>Invalidator:Postgres:Password</c>: the password, kept out of the connection string (for example from the
    /// environment variable <c>Invalidator__Postgres__Password</c>). Not with <see cref="PasswordFile"/>, nor with a
    /// <c>Password=</c> in the connection string.
    /// </summary>
    public string? Password { get; set; }

    /// <summary>
    /// <c>Invalidator:Postgres:PasswordFile</c>: a file holding the password (a mounted secret), read at each new
    /// connection; trailing line breaks are ignored. Not with <see cref="Password"/>.
    /// </summary>
    public string? PasswordFile { get; set; }

    /// <summary><c>Invalidator:Postgres:Publication</c>: the publication to stream (created by you: <c>CREATE PUBLICATION ... FOR TABLE ...</c>).</summary>
    public string Publication { get; set; } = DefaultName;

    /// <summary>
    /// <c>Invalidator:Postgres:Slot</c>: the logical replication slot (pgoutput), created if absent. It keeps the
    /// position of the last applied transaction, so a restarted worker resumes there; one worker at a time may use it.
    /// </summary>
    public string Slot { get; set; } = DefaultName;

    /// <summary>
    /// <c>Invalidator:Postgres:TemporarySlot</c>: create the slot as temporary (dropped when the worker disconnects).
    /// Changes made while no worker runs are then never invalidated: for demos only.
    /// </summary>
    public bool TemporarySlot { get; set; }
}
