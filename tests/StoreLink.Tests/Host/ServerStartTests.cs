using System.Text.RegularExpressions;
using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Host;

/// <summary>The server as an operator runs it: its own process, its own data directory, started and restarted.</summary>
public sealed class ServerStartTests
{
    public static TheoryData<string> Databases => TestDatabases.Both;

    private static async Task<(FreshDatabase Database, Dictionary<string, string> Env)> EmptyAsync(string provider)
    {
        var database = await TestDatabases.CreateEmptyAsync(provider);
        var env = new Dictionary<string, string> { ["Storage__Provider"] = provider };
        if (database.ConnectionString is not null)
            env["Storage__ConnectionString"] = database.ConnectionString;
        return (database, env);
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_demo_start_seeds_once_and_a_restart_keeps_everything(string provider)
    {
        var (database, env) = await EmptyAsync(provider);
        await using (database)
        {
            string storeId;
            await using (var first = await ServerProcess.StartAsync(database.DataDirectory, ["--demo"], env))
            {
                Assert.False(first.HasExited, first.Output);
                Assert.Contains("admin@demo.local", first.Output);
                Assert.Contains($"http://127.0.0.1:{first.Port}", first.Output);
                var admin = await LoginAsync(first.Client, "admin@demo.local", "demo1234");
                var created = await admin.PostJsonAsync("/v1/stores", new { store_key = "after-restart", name = "重启后仍在" });
                Assert.Equal(201, created.Status);
                storeId = created.Str("id");
            }

            await using var second = await ServerProcess.StartAsync(database.DataDirectory, ["--demo"], env);
            var again = await LoginAsync(second.Client, "admin@demo.local", "demo1234");
            Assert.Equal(200, (await again.GetJsonAsync($"/v1/stores/{storeId}")).Status);
            Assert.Equal(4, (await again.GetJsonAsync("/v1/stores")).Json.GetArrayLength());
            Assert.Equal(7, (await again.GetJsonAsync("/v1/staff")).Json.GetArrayLength());
            Assert.Equal(3, (await again.GetJsonAsync("/v1/customers")).Json.GetArrayLength());
            if (provider == TestDatabases.Sqlite)
                Assert.True(File.Exists(Path.Combine(database.DataDirectory, "storelink.db")));
        }
    }

    [Theory, MemberData(nameof(Databases))]
    public async Task A_production_start_is_empty_until_an_admin_creates_the_first_organization(string provider)
    {
        var (database, env) = await EmptyAsync(provider);
        await using (database)
        {
            await using (var empty = await ServerProcess.StartAsync(database.DataDirectory, [], env))
            {
                Assert.Equal(200, (await empty.Client.GetJsonAsync("/readyz")).Status);
                Assert.Equal(401, (await empty.Client.PostJsonAsync("/v1/auth/login", new { login = "admin@demo.local", password = "demo1234" })).Status);
                Assert.DoesNotContain("demo1234", empty.Output);
            }

            var (code, output) = await ServerProcess.RunToEndAsync(database.DataDirectory,
                ["admin", "create-org", "--name", "河畔数码", "--admin-login", "Owner@Shop.example"], env);
            Assert.True(code == 0, output);
            var password = Regex.Match(output, @"Password \(shown once\): (\S+)").Groups[1].Value;
            Assert.True(password.Length >= 8, output);
            Assert.Matches(@"Identity secret for customer tokens: \S{32,}", output);

            var (duplicate, duplicateOutput) = await ServerProcess.RunToEndAsync(database.DataDirectory,
                ["admin", "create-org", "--name", "again", "--admin-login", "owner@shop.example", "--admin-password", "whatever-123"], env);
            Assert.Equal(1, duplicate);
            Assert.Contains("taken", duplicateOutput);

            await using var server = await ServerProcess.StartAsync(database.DataDirectory, [], env);
            var admin = await LoginAsync(server.Client, "owner@shop.example", password);
            var me = await admin.GetJsonAsync("/v1/me");
            Assert.Equal("org_admin", me.Json.GetProperty("roles")[0].GetProperty("role").GetString());
            Assert.Equal(201, (await admin.PostJsonAsync("/v1/stores", new { store_key = "riverside", name = "河畔数码一店" })).Status);
            Assert.Equal("河畔数码", (await admin.GetJsonAsync("/v1/organization")).Str("name"));
        }
    }

    [Fact]
    public async Task A_database_that_cannot_be_opened_stops_the_start_with_a_clear_message()
    {
        var directory = Path.Combine(TestDatabases.Root, Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        await File.WriteAllTextAsync(Path.Combine(directory, "storelink.db"), "this is not a database, just text that happens to be here");
        await using var server = await ServerProcess.StartAsync(directory);
        await server.WaitForExitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(1, server.ExitCode);
        Assert.Contains("not a database", server.Output);
        Assert.DoesNotContain("Unhandled exception", server.Output);
    }

    [Fact]
    public async Task The_admin_command_explains_itself_when_used_wrongly()
    {
        var directory = Path.Combine(TestDatabases.Root, Guid.NewGuid().ToString("N"));
        var (code, output) = await ServerProcess.RunToEndAsync(directory, ["admin", "create-org", "--name", "x"]);
        Assert.Equal(2, code);
        Assert.Contains("--admin-login", output);
        var (usage, usageOutput) = await ServerProcess.RunToEndAsync(directory, ["admin"]);
        Assert.Equal(2, usage);
        Assert.Contains("Usage: admin create-org", usageOutput);
    }

    private static async Task<HttpClient> LoginAsync(HttpClient anonymous, string login, string password)
    {
        var response = await anonymous.PostJsonAsync("/v1/auth/login", new { login, password });
        Assert.True(response.Status == 200, response.ToString());
        var client = new HttpClient { BaseAddress = anonymous.BaseAddress };
        client.DefaultRequestHeaders.Authorization = new("Bearer", response.Str("access_token"));
        return client;
    }
}
