using System.Text.RegularExpressions;
using Invalidator.Worker.Options;
using Npgsql;

namespace Invalidator.Worker.Sources.Postgres;

/// <summary>
/// The password of the direct source, from <c>Invalidator:Postgres:Password</c> or <c>:PasswordFile</c>, put into the
/// connection string through Npgsql's builder, which quotes it: a <c>;</c> or <c>'</c> in it never ends the value. The
/// file is read at each new connection, so a rotated secret is used from the next reconnect. Without either option
/// Npgsql's own sources apply: <c>Password=</c> in the string, then <c>PGPASSWORD</c>, then <c>Passfile=</c>,
/// <c>PGPASSFILE</c> or <c>~/.pgpass</c>.
/// </summary>
internal static partial class PostgresCredentials
{
    public const string PasswordFileKey = "Invalidator:Postgres:PasswordFile";

    /// <summary><c>Invalidator:Postgres:ConnectionString</c> with the password of the options, if they give one.</summary>
    public static string ConnectionString(PostgresOptions postgres) =>
        WithPassword(postgres.ConnectionString, postgres.Password, postgres.PasswordFile, PasswordFileKey);

    /// <summary>
    /// <paramref name="connectionString"/> with <paramref name="password"/>, or the content of <paramref name="passwordFile"/>
    /// (throws <see cref="SecretFileException"/> naming <paramref name="fileKey"/> when it cannot be read).
    /// </summary>
    public static string WithPassword(string connectionString, string? password, string? passwordFile, string fileKey)
    {
        if (string.IsNullOrEmpty(password) && string.IsNullOrEmpty(passwordFile))
        {
            return connectionString;
        }

        var builder = new NpgsqlConnectionStringBuilder(connectionString)
        {
            Password = string.IsNullOrEmpty(passwordFile) ? password : SecretFile.Read(passwordFile, fileKey),
        };
        return builder.ConnectionString;
    }

    /// <summary>
    /// What to say about a connection string Npgsql refused: its message quotes the keyword it choked on, which is a
    /// piece of the password when an unquoted <c>;</c> cut one, so it is left out when the string holds a password.
    /// </summary>
    public static string DescribeInvalid(string connectionString, Exception exception, string passwordKeys) =>
        HasPassword(connectionString)
            ? "(Npgsql's message is not shown: the string holds a password). A ; in a password must be quoted " +
              $"(Password='a;b'), or give the password as {passwordKeys}"
            : exception.Message;

    /// <summary>
    /// Why a connection failed: Npgsql's message with those of its inner exceptions ("Exception while performing SSL
    /// handshake" alone does not say which side refused what), and for a refused certificate, the settings that decide it.
    /// </summary>
    public static string DescribeConnectFailure(Exception exception)
    {
        var messages = new List<string>();
        for (var inner = exception; inner is not null; inner = inner.InnerException)
        {
            if (!messages.Contains(inner.Message))
            {
                messages.Add(inner.Message);
            }
        }

        var text = string.Join(": ", messages).TrimEnd('.');
        return HasInner<System.Security.Authentication.AuthenticationException>(exception)
            ? text + ". The server's TLS certificate must chain to the CA of Root Certificate= (or PGSSLROOTCERT) and, with SSL Mode=VerifyFull, name the Host connected to"
            : text;
    }

    private static bool HasInner<T>(Exception? exception)
        where T : Exception
    {
        for (; exception is not null; exception = exception.InnerException)
        {
            if (exception is T)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Whether the connection string may hold a password (Npgsql's keywords Password, PWD and PSW; erring towards yes).</summary>
    public static bool HasPassword(string connectionString) => PasswordKeyword().IsMatch(connectionString);

    [GeneratedRegex(@"(password|pwd|psw)\s*=", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex PasswordKeyword();
}
