using Invalidator.Worker.Sources.Postgres;
using Npgsql;

namespace Invalidator.Worker.Tests.Sources.Postgres;

public class ReplicationConnectionStringTests
{
    [Fact]
    public void Adds_the_session_settings_and_a_larger_read_buffer()
    {
        var builder = new NpgsqlConnectionStringBuilder(PostgresChangeSource.ReplicationConnectionString("Host=db;Username=u"));

        Assert.Equal(PostgresTextValues.RequiredSessionSettings, builder.Options);
        Assert.Equal("invalidator", builder.ApplicationName);
        Assert.Equal(PostgresChangeSource.ReplicationReadBufferSize, builder.ReadBufferSize);
    }

    [Theory]
    [InlineData("Host=db;Read Buffer Size=4096")]
    [InlineData("Host=db;ReadBufferSize=4096")]
    [InlineData("Host=db;read buffer size=4096")]
    public void Keeps_a_read_buffer_size_the_connection_string_sets(string connectionString) =>
        Assert.Equal(4096, new NpgsqlConnectionStringBuilder(PostgresChangeSource.ReplicationConnectionString(connectionString)).ReadBufferSize);

    // The decoder decodes text values itself only when Npgsql would decode them as UTF-8 (its test: Encoding is "UTF8").
    [Theory]
    [InlineData("Host=db", true)]
    [InlineData("Host=db;Encoding=UTF8", true)]
    [InlineData("Host=db;Encoding=LATIN1", false)]
    [InlineData("Host=db;Encoding=WIN1252", false)]
    public void Text_is_utf8_under_npgsqls_default_encoding_only(string connectionString, bool utf8) =>
        Assert.Equal(utf8, PostgresChangeSource.TextIsUtf8(connectionString));
}
