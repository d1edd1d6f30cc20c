using Invalidator.Worker.Options;
using Invalidator.Worker.Sources.Postgres;
using Npgsql;

namespace Invalidator.Worker.Tests.Sources.Postgres;

/// <summary>
/// <c>Invalidator:Postgres:Password</c> and <c>:PasswordFile</c>: the password reaches Npgsql whole (quoted by its
/// builder), one source at a time, and no check message shows it or a piece of it.
/// </summary>
public sealed class PostgresCredentialsTests : IDisposable
{
    private const string Connection = "Host=127.0.0.1;Port=5432;Database=app;Username=invalidator";

    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("invalidator-pg-secrets-");

    public void Dispose() => _directory.Delete(recursive: true);

    private static IReadOnlyList<string> Failures(PostgresOptions postgres)
    {
        var options = new InvalidatorOptions
        {
            Source = ChangeSourceKind.Postgres,
            Postgres = postgres,
            Rules = { Path = "rules.yaml" },
            Regions = { ["east"] = new RegionOptions { Redis = "localhost:6379" } },
        };
        var result = new InvalidatorOptionsValidator().Validate(null, options);
        return result.Failed ? [.. result.Failures!] : [];
    }

    private string SecretFile(string content)
    {
        var path = Path.Combine(_directory.FullName, Guid.NewGuid().ToString("N"));
        File.WriteAllText(path, content);
        return path;
    }

    [Theory]
    [InlineData("plain")]
    [InlineData("with;semicolon=and'quote\"")]
    [InlineData("  spaces, commas;  ")]
    public void The_password_of_the_options_or_the_file_reaches_npgsql_whole(string password)
    {
        var fromOption = new PostgresOptions { ConnectionString = Connection, Password = password };
        var fromFile = new PostgresOptions { ConnectionString = Connection, PasswordFile = SecretFile(password + "\n") };

        Assert.Empty(Failures(fromOption));
        Assert.Empty(Failures(fromFile));
        foreach (var options in new[] { fromOption, fromFile })
        {
            var parsed = new NpgsqlConnectionStringBuilder(PostgresCredentials.ConnectionString(options));
            Assert.Equal(password, parsed.Password);
            Assert.Equal("app", parsed.Database);
            Assert.Equal("invalidator", parsed.Username);
        }
    }

    [Fact]
    public void Without_the_options_the_connection_string_is_left_as_it_is_for_npgsql_s_own_sources()
    {
        // PGPASSWORD, Passfile=, PGPASSFILE and ~/.pgpass are Npgsql's: nothing to add.
        Assert.Equal(Connection, PostgresCredentials.ConnectionString(new PostgresOptions { ConnectionString = Connection }));
    }

    [Fact]
    public void Password_and_password_file_together_fail()
    {
        Assert.Equal(
            ["Invalidator:Postgres:Password and Invalidator:Postgres:PasswordFile are both set: keep one (PasswordFile for a mounted secret)."],
            Failures(new PostgresOptions { ConnectionString = Connection, Password = "a", PasswordFile = SecretFile("b") }));
    }

    [Fact]
    public void An_unreadable_password_file_fails_with_its_key_and_the_fix_and_so_does_a_password_in_both_places()
    {
        var missing = Path.Combine(_directory.FullName, "absent");
        Assert.Equal(
            [$"Invalidator:Postgres:PasswordFile names {missing}, which cannot be read (no such file): mount the secret there and let the worker's user read it, or correct the path."],
            Failures(new PostgresOptions { ConnectionString = Connection, PasswordFile = missing }));
        Assert.Throws<SecretFileException>(() => PostgresCredentials.ConnectionString(new PostgresOptions { ConnectionString = Connection, PasswordFile = missing }));

        Assert.Equal(
            ["Invalidator:Postgres:ConnectionString has a Password= and Invalidator:Postgres:Password is set too: remove Password= from the connection string."],
            Failures(new PostgresOptions { ConnectionString = Connection + ";Password=x", Password = "y" }));
    }

    [Fact]
    public void Control_an_unquoted_semicolon_in_a_password_cuts_it_and_npgsql_quotes_the_rest_as_a_keyword()
    {
        var error = Assert.ThrowsAny<ArgumentException>(() => new NpgsqlConnectionStringBuilder(Connection + ";Password=ab;secretpart=1"));
        Assert.Contains("secretpart", error.Message, StringComparison.Ordinal);

        var failure = Assert.Single(Failures(new PostgresOptions { ConnectionString = Connection + ";Password=ab;secretpart=1" }));
        Assert.DoesNotContain("secretpart", failure, StringComparison.Ordinal);
        Assert.Contains("give the password as Invalidator:Postgres:Password or :PasswordFile", failure, StringComparison.Ordinal);
    }

    [Fact]
    public void No_check_message_ever_shows_a_password_or_a_piece_of_it_generated_inputs()
    {
        var random = new Random(1705);
        const string alphabet = "abcXYZ019;,='\" {}%";
        for (var i = 0; i < 500; i++)
        {
            var password = "PW" + new string(Enumerable.Range(0, random.Next(4, 24)).Select(_ => alphabet[random.Next(alphabet.Length)]).ToArray());
            var options = new PostgresOptions
            {
                ConnectionString = Connection + (random.Next(2) == 0 ? ";Password=" + password : ""),
                Password = random.Next(2) == 0 ? password : null,
                PasswordFile = random.Next(3) switch
                {
                    0 => SecretFile(password),
                    1 => Path.Combine(_directory.FullName, "absent"),
                    _ => null,
                },
            };
            var deadLetter = new DeadLetterOptions { ConnectionString = random.Next(2) == 0 ? Connection + ";Password=" + password : "" };

            var failures = Failures(options).ToList();
            PostgresOptionsValidation.ValidateDeadLetter(deadLetter, failures);
            foreach (var failure in failures)
            {
                foreach (var piece in password.Split(';', '=', '\'', '"').Where(p => p.Length >= 3))
                {
                    Assert.DoesNotContain(piece, failure, StringComparison.Ordinal);
                }
            }
        }
    }
}
