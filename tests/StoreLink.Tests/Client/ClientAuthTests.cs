using StoreLink.Client;
using StoreLink.Protocol;
using StoreLink.Server.Accounts;
using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Client;

/// <summary>The SDK's sign-in calls against the real server.</summary>
public sealed class ClientAuthTests
{
    [Fact]
    public async Task The_sdk_signs_in_reads_me_and_logs_out()
    {
        await using var app = await StoreLinkApp.CreateAsync(TestDatabases.Sqlite);
        using var client = new StoreLinkClient(app.Anonymous());
        var token = await client.LoginAsync("manager.digital@demo.local", "demo1234");
        Assert.Equal("staff", token.User.Kind);
        Assert.Equal(Roles.Manager, Assert.Single(token.User.Roles!).Role);
        Assert.Equal(token.User, await client.MeAsync() with { Roles = token.User.Roles });

        var stores = await client.GetAsync<StoreDto[]>("/v1/stores");
        Assert.Equal("demo-digital", Assert.Single(stores).StoreKey);
        Assert.Equal("09:00", stores[0].BusinessHours["mon"][0].Open);

        var revoked = token.AccessToken;
        await client.LogoutAsync();
        client.UseToken(revoked);
        var error = await Assert.ThrowsAsync<StoreLinkException>(() => client.MeAsync());
        Assert.Equal((ErrorCodes.Unauthorized, 401), (error.Code, error.Status));
    }

    [Fact]
    public async Task The_sdk_turns_problems_into_exceptions_with_codes_and_fields()
    {
        await using var app = await StoreLinkApp.CreateAsync(TestDatabases.Sqlite);
        using var client = new StoreLinkClient(app.Anonymous());
        var wrong = await Assert.ThrowsAsync<StoreLinkException>(() => client.LoginAsync("agent.digital@demo.local", "wrong-password"));
        Assert.Equal(ErrorCodes.Unauthorized, wrong.Code);
        var invalid = await Assert.ThrowsAsync<StoreLinkException>(() => client.LoginAsync("", ""));
        Assert.Equal(ErrorCodes.InvalidRequest, invalid.Code);
        Assert.Contains("login", invalid.Errors!.Keys);

        var visitor = await client.VisitorAsync("demo-shoes");
        Assert.Equal("customer", visitor.User.Kind);
        var identity = Jwt.Sign(new { sub = "C1003", exp = Jwt.In(TimeSpan.FromMinutes(1)) }, DemoSeed.RetailIdentitySecret);
        var customer = await client.CustomerAsync("demo-shoes", identity);
        Assert.Equal("演示顾客三", customer.User.Name);
        var profile = await client.GetAsync<CustomerDto>($"/v1/customers/{customer.User.Id}");
        Assert.Equal("SO-20261105-0210", Assert.Single(profile.Purchases!).OrderNo);
    }
}
