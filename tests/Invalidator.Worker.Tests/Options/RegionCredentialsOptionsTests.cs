using Invalidator.Worker.Options;
using Invalidator.Worker.Regions;

namespace Invalidator.Worker.Tests.Options;

/// <summary>
/// <c>Invalidator:Regions:&lt;name&gt;:User</c>, <c>:Password</c> and <c>:PasswordFile</c>: the password reaches the
/// StackExchange.Redis options whole, whatever it holds, and the checks name the key to fix without showing it.
/// </summary>
public sealed class RegionCredentialsOptionsTests : IDisposable
{
    private readonly DirectoryInfo _directory = Directory.CreateTempSubdirectory("invalidator-secrets-");

    public void Dispose() => _directory.Delete(recursive: true);

    private static InvalidatorOptions With(RegionOptions region) => new()
    {
        Kafka = { BootstrapServers = "localhost:9092", Topics = ["dbserver1.public.customers"] },
        Rules = { Path = "rules.yaml" },
        Regions = { ["east"] = region },
    };

    private static IReadOnlyList<string> Failures(RegionOptions region)
    {
        var result = new InvalidatorOptionsValidator().Validate(null, With(region));
        return result.Failed ? [.. result.Failures!] : [];
    }

    private string SecretFile(string content)
    {
        var path = Path.Combine(_directory.FullName, Guid.NewGuid().ToString("N"));
        File.WriteAllText(path, content);
        return path;
    }

    [Fact]
    public void A_password_with_commas_and_equals_signs_is_one_password_and_no_endpoint()
    {
        const string password = "p,w=1,localhost:7000,ssl=false";
        var region = new RegionOptions { Redis = "127.0.0.1:6379", User = "invalidator", Password = password };

        Assert.Empty(Failures(region));
        var options = RegionRedisConfiguration.Create("east", region);
        Assert.Equal(password, options.Password);
        Assert.Equal("invalidator", options.User);
        Assert.Equal("127.0.0.1:6379", Assert.Single(options.EndPoints).ToString());
        Assert.False(options.Ssl);
    }

    [Fact]
    public void Control_the_same_password_inside_the_configuration_string_is_split_into_endpoints()
    {
        // What the options of their own avoid: the string's syntax cuts the password at its first comma.
        var options = StackExchange.Redis.ConfigurationOptions.Parse("127.0.0.1:6379,password=p,w1,localhost:7000");

        Assert.Equal("p", options.Password);
        Assert.Equal(["127.0.0.1:6379", "Unspecified/w1:0", "Unspecified/localhost:7000"], options.EndPoints.Select(e => e.ToString()));
    }

    [Fact]
    public void A_configuration_string_with_a_password_that_does_not_parse_fails_without_quoting_the_parser()
    {
        // The parser would say "Keyword 'w1secret' is not supported": a piece of the password.
        var failure = Assert.Single(Failures(new RegionOptions { Redis = "127.0.0.1:6379,password=p,w1secret=x" }));

        Assert.DoesNotContain("w1secret", failure, StringComparison.Ordinal);
        Assert.Contains("move the password to Invalidator:Regions:east:Password or :PasswordFile", failure, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("s3cr,et\n", "s3cr,et")]
    [InlineData("s3cr,et\r\n", "s3cr,et")]
    [InlineData("s3cr,et", "s3cr,et")]
    [InlineData(" spaced pass ", " spaced pass ")]
    public void A_password_file_is_read_without_its_trailing_line_break(string content, string expected)
    {
        var region = new RegionOptions { Redis = "127.0.0.1:6379", PasswordFile = SecretFile(content) };

        Assert.Empty(Failures(region));
        Assert.Equal(expected, RegionRedisConfiguration.Create("east", region).Password);
    }

    [Fact]
    public void Password_and_password_file_together_fail()
    {
        var region = new RegionOptions { Redis = "127.0.0.1:6379", Password = "a", PasswordFile = SecretFile("b") };

        Assert.Equal(
            "Invalidator:Regions:east:Password and Invalidator:Regions:east:PasswordFile are both set: keep one (PasswordFile for a mounted secret).",
            Assert.Single(Failures(region)));
    }

    [Fact]
    public void A_missing_password_file_fails_with_the_key_the_path_and_the_fix()
    {
        var path = Path.Combine(_directory.FullName, "absent");
        var region = new RegionOptions { Redis = "127.0.0.1:6379", PasswordFile = path };

        Assert.Equal(
            $"Invalidator:Regions:east:PasswordFile names {path}, which cannot be read (no such file): mount the secret there and let the worker's user read it, or correct the path.",
            Assert.Single(Failures(region)));
        var error = Assert.Throws<SecretFileException>(() => RegionRedisConfiguration.Create("east", region));
        Assert.Contains("Invalidator:Regions:east:PasswordFile", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_empty_password_file_or_a_directory_or_dev_zero_fails()
    {
        Assert.Contains("which is empty", Assert.Single(Failures(new RegionOptions { Redis = "127.0.0.1:6379", PasswordFile = SecretFile("\n") })), StringComparison.Ordinal);
        Assert.Contains("cannot be read", Assert.Single(Failures(new RegionOptions { Redis = "127.0.0.1:6379", PasswordFile = _directory.FullName })), StringComparison.Ordinal);
        if (File.Exists("/dev/zero"))
        {
            Assert.Contains("longer than 4096 characters", Assert.Single(Failures(new RegionOptions { Redis = "127.0.0.1:6379", PasswordFile = "/dev/zero" })), StringComparison.Ordinal);
        }
    }

    [Fact]
    public void A_password_in_both_the_string_and_an_option_fails_and_so_does_a_user()
    {
        var failures = Failures(new RegionOptions { Redis = "127.0.0.1:6379,user=u,password=x", User = "v", Password = "y" });

        Assert.Equal(2, failures.Count);
        Assert.Contains(failures, f => f.StartsWith("Invalidator:Regions:east:Redis has a password= and Invalidator:Regions:east:Password is set too", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Invalidator:Regions:east:Redis has a user= and Invalidator:Regions:east:User is set too", StringComparison.Ordinal));
    }

    [Fact]
    public void No_check_message_ever_shows_a_password_generated_inputs()
    {
        var random = new Random(17);
        const string alphabet = "abcXYZ019,;=:'\"\\ {}$%";
        for (var i = 0; i < 500; i++)
        {
            var password = "PW" + new string(Enumerable.Range(0, random.Next(4, 24)).Select(_ => alphabet[random.Next(alphabet.Length)]).ToArray());
            var inString = random.Next(2) == 0;
            var region = new RegionOptions
            {
                Redis = "127.0.0.1:6379" + (inString ? ",password=" + password : ""),
                Password = random.Next(2) == 0 ? password : null,
                PasswordFile = random.Next(3) switch
                {
                    0 => SecretFile(password),
                    1 => Path.Combine(_directory.FullName, "absent"),
                    _ => null,
                },
            };

            foreach (var failure in Failures(region))
            {
                // Nor a piece of it: the string's parser cuts a password at its commas.
                foreach (var piece in password.Split(',').Where(p => p.Length >= 3))
                {
                    Assert.DoesNotContain(piece, failure, StringComparison.Ordinal);
                }
            }
        }
    }
}
