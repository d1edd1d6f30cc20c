using System.Text.RegularExpressions;
using Invalidator.Worker.Sources.Postgres;
using Npgsql;

namespace Invalidator.Worker.Options;

/// <summary>Checks <c>Invalidator:Postgres</c> when it is the selected source; each message names the key to fix.</summary>
internal static partial class PostgresOptionsValidation
{
    private const int MaxIdentifierLength = 63; // NAMEDATALEN - 1

    /// <summary>The dead-letter table of direct mode: its name and its database.</summary>
    public static void ValidateDeadLetter(DeadLetterOptions deadLetter, List<string> failures)
    {
        if (!TableName().IsMatch(deadLetter.Table ?? ""))
        {
            failures.Add($"Invalidator:DeadLetter:Table '{deadLetter.Table}' is not a table name: use table or schema.table, " +
                $"each 1 to {MaxIdentifierLength} lower-case letters, digits and underscores (for example {DeadLetterOptions.DefaultTable} or ops.{DeadLetterOptions.DefaultTable}).");
        }

        if (!string.IsNullOrWhiteSpace(deadLetter.ConnectionString))
        {
            try
            {
                _ = new NpgsqlConnectionStringBuilder(deadLetter.ConnectionString);
            }
            catch (Exception ex) when (ex is ArgumentException or FormatException or KeyNotFoundException)
            {
                failures.Add($"Invalidator:DeadLetter:ConnectionString is not a valid Npgsql connection string: " +
                    PostgresCredentials.DescribeInvalid(deadLetter.ConnectionString, ex, "Passfile= or PGPASSFILE") + ".");
            }
        }
    }

    public static void Validate(PostgresOptions postgres, List<string> failures)
    {
        if (string.IsNullOrWhiteSpace(postgres.ConnectionString))
        {
            failures.Add("Invalidator:Postgres:ConnectionString is required when Invalidator:Source is Postgres " +
                "(for example Host=localhost;Port=5432;Database=app;Username=invalidator;Password=...).");
        }
        else
        {
            try
            {
                _ = new NpgsqlConnectionStringBuilder(postgres.ConnectionString);
                ValidatePassword(postgres, failures);
            }
            catch (Exception ex) when (ex is ArgumentException or FormatException or KeyNotFoundException)
            {
                failures.Add($"Invalidator:Postgres:ConnectionString is not a valid Npgsql connection string: " +
                    PostgresCredentials.DescribeInvalid(postgres.ConnectionString, ex, "Invalidator:Postgres:Password or :PasswordFile") + ".");
            }
        }

        if (string.IsNullOrWhiteSpace(postgres.Publication) || postgres.Publication.Length > MaxIdentifierLength)
        {
            failures.Add($"Invalidator:Postgres:Publication must name a publication (1 to {MaxIdentifierLength} characters), for example {PostgresOptions.DefaultName}.");
        }

        if (!SlotName().IsMatch(postgres.Slot ?? ""))
        {
            failures.Add($"Invalidator:Postgres:Slot '{postgres.Slot}' is not a valid replication slot name: " +
                $"use 1 to {MaxIdentifierLength} lower-case letters, digits and underscores (for example {PostgresOptions.DefaultName}).");
        }
    }

    /// <summary><c>Invalidator:Postgres:Password</c> or <c>:PasswordFile</c>: one source of the password, and a readable file.</summary>
    private static void ValidatePassword(PostgresOptions postgres, List<string> failures)
    {
        var hasPassword = !string.IsNullOrEmpty(postgres.Password);
        var hasPasswordFile = !string.IsNullOrEmpty(postgres.PasswordFile);
        if (hasPassword && hasPasswordFile)
        {
            failures.Add("Invalidator:Postgres:Password and Invalidator:Postgres:PasswordFile are both set: keep one (PasswordFile for a mounted secret).");
            return;
        }

        if (hasPasswordFile)
        {
            _ = SecretFile.TryRead(postgres.PasswordFile!, PostgresCredentials.PasswordFileKey, out var error);
            if (error is not null)
            {
                failures.Add(error);
            }
        }

        if ((hasPassword || hasPasswordFile) && !string.IsNullOrEmpty(new NpgsqlConnectionStringBuilder(postgres.ConnectionString).Password))
        {
            failures.Add($"Invalidator:Postgres:ConnectionString has a Password= and Invalidator:Postgres:{(hasPassword ? "Password" : "PasswordFile")} is set too: " +
                "remove Password= from the connection string.");
        }
    }

    // Postgres' own rule for slot names (ReplicationSlotValidateName).
    [GeneratedRegex("^[a-z0-9_]{1,63}$")]
    private static partial Regex SlotName();

    // Lower-case only, so the name means the same quoted or not.
    [GeneratedRegex("^([a-z_][a-z0-9_]{0,62}\\.)?[a-z_][a-z0-9_]{0,62}$")]
    private static partial Regex TableName();
}
