using System.Net.Http.Headers;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace StoreLink.Tests.Infrastructure;

/// <summary>
/// The server under test on a fresh database of its own (demo data included), in process. Tests talk to it over
/// HTTP only, as clients do.
/// </summary>
public sealed class StoreLinkApp : WebApplicationFactory<Program>
{
    private readonly bool _seedDemo;
    private readonly bool _keepDatabase;
    private readonly IReadOnlyDictionary<string, string?> _settings;

    public StoreLinkApp(FreshDatabase database, bool seedDemo = false, IReadOnlyDictionary<string, string?>? settings = null, bool keepDatabase = false)
    {
        Database = database;
        _keepDatabase = keepDatabase;
        _seedDemo = seedDemo;
        _settings = settings ?? new Dictionary<string, string?>();
    }

    public FreshDatabase Database { get; }

    /// <summary>The server's clock: <c>Clock.Advance(…)</c> moves time for expiry and windows.</summary>
    public TestClock Clock { get; } = new();

    /// <summary>Errors the server logged (unhandled exceptions among them); shown in the test output on dispose.</summary>
    public ServerLog Log { get; } = new();

    public static async Task<StoreLinkApp> CreateAsync(string provider, IReadOnlyDictionary<string, string?>? settings = null)
    {
        var app = new StoreLinkApp(await TestDatabases.CreateAsync(provider), settings: settings);
        app.Start();
        return app;
    }

    /// <summary>The server on real Kestrel at a loopback port, for what only a real socket shows (limits, WebSockets).</summary>
    public static async Task<StoreLinkApp> CreateOnKestrelAsync(string provider, IReadOnlyDictionary<string, string?>? settings = null)
    {
        var app = new StoreLinkApp(await TestDatabases.CreateAsync(provider), settings: settings);
        app.UseKestrel(0);
        app.StartServer();
        return app;
    }

    /// <summary>Starts the server now (migrations and all) rather than at the first request.</summary>
    public void Start() => _ = Server;

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseEnvironment("Testing");
        builder.UseSetting("Storage:Provider", Database.Provider);
        if (Database.ConnectionString is not null)
            builder.UseSetting("Storage:ConnectionString", Database.ConnectionString);
        builder.UseSetting("StoreLink:DataDirectory", Database.DataDirectory);
        builder.UseSetting("StoreLink:Demo", _seedDemo ? "true" : "false");
        builder.UseSetting("Logging:LogLevel:Default", "Warning");
        foreach (var (key, value) in _settings)
            builder.UseSetting(key, value);
        builder.ConfigureTestServices(services => services.AddSingleton<TimeProvider>(Clock));
        builder.ConfigureLogging(logging => logging.AddProvider(Log));
    }

    public HttpClient Anonymous() => CreateClient();

    /// <summary>The server's address when it runs on Kestrel (<see cref="CreateOnKestrelAsync"/>).</summary>
    public Uri ServerUri => new(Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
        .Features.Get<Microsoft.AspNetCore.Hosting.Server.Features.IServerAddressesFeature>()!.Addresses.First().Replace("[::1]", "127.0.0.1"));

    /// <summary>A WebSocket client signed in with the token, connected to <c>/v1/ws</c> (Kestrel only).</summary>
    public async Task<WsClient> ConnectAsync(string token)
    {
        var ws = await WsClient.ConnectAsync(ServerUri);
        var ready = await ws.AuthAsync(token);
        Assert.Equal("ready", ready.GetProperty("type").GetString());
        return ws;
    }

    public static string TokenOf(HttpClient client) => client.DefaultRequestHeaders.Authorization!.Parameter!;

    public HttpClient WithToken(string token)
    {
        var client = CreateClient();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    /// <summary>A client signed in as a demo staff member (password demo1234 unless given).</summary>
    public async Task<HttpClient> LoginAsync(string login, string password = "demo1234")
    {
        var response = await Anonymous().PostJsonAsync("/v1/auth/login", new { login, password });
        Assert.Equal(200, response.Status);
        return WithToken(response.Json.GetProperty("access_token").GetString()!);
    }

    public async Task<HttpClient> VisitorAsync(string storeKey)
    {
        var response = await Anonymous().PostJsonAsync("/v1/auth/visitor", new { store_key = storeKey });
        Assert.Equal(200, response.Status);
        return WithToken(response.Json.GetProperty("access_token").GetString()!);
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        foreach (var error in Log.Errors)
            TestContext.Current.TestOutputHelper?.WriteLine("server: " + error);
        if (!_keepDatabase)
            await Database.DisposeAsync();
    }
}
