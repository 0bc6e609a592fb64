using System.Text.Json;
using StoreLink.Server.Accounts;
using StoreLink.Tests.Infrastructure;

namespace StoreLink.Tests.Desk;

/// <summary>
/// The demo electronics store on a real socket, with agents made for the test and signed-in customers who write to
/// it. The demo's own agent and manager stay offline (no socket), so only the test's agents get work. An agent is
/// online while a socket of theirs is open and their status is online; <see cref="Agent.ConnectAsync"/> returns once
/// the server counts the socket.
/// </summary>
public sealed class DeskScene : IAsyncDisposable
{
    public const string Store = "demo-digital";
    private const string Password = "desk-pass-1";
    private readonly List<WsClient> _sockets = [];
    private int _people;

    private DeskScene(StoreLinkApp app, HttpClient admin, HttpClient manager, string storeId, string managerId)
    {
        App = app;
        Admin = admin;
        Manager = manager;
        StoreId = storeId;
        ManagerId = managerId;
    }

    public StoreLinkApp App { get; }
    public HttpClient Admin { get; private set; }
    public HttpClient Manager { get; private set; }
    public string StoreId { get; }
    public string ManagerId { get; }

    public static async Task<DeskScene> CreateAsync(string db, IReadOnlyDictionary<string, string?>? settings = null)
    {
        var app = await StoreLinkApp.CreateOnKestrelAsync(db, settings);
        var admin = await app.LoginAsync("admin@demo.local");
        var manager = await app.LoginAsync("manager.digital@demo.local");
        var storeId = await StoreIdAsync(admin, Store);
        return new DeskScene(app, admin, manager, storeId, (await manager.GetJsonAsync("/v1/me")).Str("id"));
    }

    /// <summary>The admin and the manager sign in again (a staff token lasts 12 hours of the server's clock, which tests move).</summary>
    public async Task SignInAgainAsync()
    {
        Admin = await App.LoginAsync("admin@demo.local");
        Manager = await App.LoginAsync("manager.digital@demo.local");
    }

    /// <summary>The store opens every day from <paramref name="open"/> to <paramref name="close"/>, Shanghai time.</summary>
    public async Task OpenDailyAsync(string open, string close, object? more = null)
    {
        var hours = new[] { "mon", "tue", "wed", "thu", "fri", "sat", "sun" }.ToDictionary(d => d, _ => new[] { new { open, close } });
        Assert.Equal(200, (await Manager.PatchJsonAsync($"/v1/stores/{StoreId}", new { time_zone = "Asia/Shanghai", business_hours = hours })).Status);
        if (more is not null)
            Assert.Equal(200, (await Manager.PatchJsonAsync($"/v1/stores/{StoreId}", more)).Status);
    }

    public static async Task<string> StoreIdAsync(HttpClient staff, string key) =>
        (await staff.GetJsonAsync("/v1/stores")).Json.EnumerateArray().Single(s => s.GetProperty("store_key").GetString() == key).GetProperty("id").GetString()!;

    /// <summary>A new agent of the store (or of <paramref name="storeId"/>), signed in; connected unless told not to.</summary>
    public async Task<Agent> AgentAsync(string name, int? capacity = null, bool connect = true, string status = "online", string? storeId = null)
    {
        var login = $"desk{Interlocked.Increment(ref _people)}@desk.test";
        var created = await Admin.PostJsonAsync("/v1/staff", new { login, name, password = Password, roles = new[] { new { store_id = storeId ?? StoreId, role = "agent" } } });
        Assert.Equal(201, created.Status);
        var agent = new Agent(this, created.Str("id"), name, login, await App.LoginAsync(login, Password));
        if (capacity is not null)
            Assert.Equal(200, (await Admin.PutJsonAsync($"/v1/staff/{agent.Id}/capacity", new { capacity })).Status);
        if (status != "online")
            Assert.Equal(200, (await agent.Http.PutJsonAsync("/v1/me/presence", new { status })).Status);
        if (connect)
            await agent.ConnectAsync();
        return agent;
    }

    /// <summary>A signed-in customer (identity token of the store's backend) with an open conversation and a socket.</summary>
    public async Task<Customer> CustomerAsync(int vip = 0, string? queueId = null, string? name = null)
    {
        var n = Interlocked.Increment(ref _people);
        // Signed on the server's clock, which tests move.
        var token = Jwt.Sign(new { sub = $"D{n:000}", name = name ?? $"顾客{n}", vip, exp = App.Clock.GetUtcNow().AddMinutes(10).ToUnixTimeSeconds() },
            DemoSeed.RetailIdentitySecret);
        var auth = await App.Anonymous().PostJsonAsync("/v1/auth/customer", new { store_key = Store, identity_token = token });
        Assert.Equal(200, auth.Status);
        var http = App.WithToken(auth.Str("access_token"));
        var opened = await http.PostJsonAsync("/v1/conversations", new { store_key = Store, queue_id = queueId });
        Assert.Equal(201, opened.Status);
        return new Customer(http, opened.Str("id"), await SocketAsync(StoreLinkApp.TokenOf(http)));
    }

    /// <summary>An online agent, and a customer whose first words were given to them.</summary>
    public async Task<(Agent Agent, Customer Customer)> ServedAsync(string agentName, string text)
    {
        var agent = await AgentAsync(agentName);
        var customer = await CustomerAsync();
        await customer.SendAsync(text);
        Assert.Equal(agent.Id, await customer.AssignedAsync());
        return (agent, customer);
    }

    public async Task<WsClient> SocketAsync(string token)
    {
        var socket = await App.ConnectAsync(token);
        lock (_sockets)
            _sockets.Add(socket);
        return socket;
    }

    /// <summary>A queue of the store, made by its manager.</summary>
    public async Task<string> QueueAsync(string name, string strategy = "least_busy", string[]? keywords = null, Agent[]? agents = null, bool isDefault = false, int position = 0)
    {
        var created = await Manager.PostJsonAsync($"/v1/stores/{StoreId}/queues", new
        {
            name, strategy, keywords = keywords ?? [], is_default = isDefault, position, agent_ids = agents?.Select(a => a.Id).ToArray() ?? [],
        });
        Assert.Equal(201, created.Status);
        return created.Str("id");
    }

    /// <summary>Staff ids of the organization by login.</summary>
    public async Task<Dictionary<string, string>> StaffIdsAsync() =>
        (await Admin.GetJsonAsync("/v1/staff")).Json.EnumerateArray().ToDictionary(s => s.GetProperty("login").GetString()!, s => s.GetProperty("id").GetString()!);

    /// <summary>The conversation as the store's manager sees it.</summary>
    public async Task<JsonElement> ConversationAsync(string id) => (await Manager.GetJsonAsync($"/v1/conversations/{id}")).Json;

    public async Task<string?> AssigneeAsync(string id) =>
        (await ConversationAsync(id)).TryGetProperty("assignee_id", out var a) && a.ValueKind == JsonValueKind.String ? a.GetString() : null;

    /// <summary>What the server says about someone's presence (online, away, offline).</summary>
    public async Task<string> PresenceAsync(string staffId) =>
        (await Manager.GetJsonAsync("/v1/presence")).Json.EnumerateArray().Single(p => p.GetProperty("user_id").GetString() == staffId).GetProperty("status").GetString()!;

    /// <summary>Pushed frames that arrive on <paramref name="socket"/> before the first one that matches <paramref name="sentinel"/>.</summary>
    public static async Task<List<JsonElement>> FramesBeforeAsync(WsClient socket, Func<JsonElement, bool> sentinel)
    {
        var before = new List<JsonElement>();
        await socket.NextAsync(f =>
        {
            if (sentinel(f))
                return true;
            before.Add(f);
            return false;
        });
        return before;
    }

    public static bool IsType(JsonElement frame, string type) => frame.GetProperty("type").GetString() == type;

    public static bool IsMessageIn(JsonElement frame, string conversationId) =>
        IsType(frame, "message") && frame.GetProperty("message").GetProperty("conversation_id").GetString() == conversationId;

    public static bool IsText(JsonElement frame, string conversationId, string text) =>
        IsMessageIn(frame, conversationId) && TextOf(frame.GetProperty("message")) == text;

    public static string? TextOf(JsonElement message) =>
        message.TryGetProperty("body", out var body) && body.ValueKind == JsonValueKind.Object && body.TryGetProperty("text", out var text) ? text.GetString() : null;

    public async ValueTask DisposeAsync()
    {
        foreach (var socket in _sockets)
            await socket.DisposeAsync();
        await App.DisposeAsync();
    }

    /// <summary>A staff member of the test: their REST client and, while connected, their socket.</summary>
    public sealed class Agent(DeskScene scene, string id, string name, string login, HttpClient http)
    {
        public string Id { get; } = id;
        public string Name { get; } = name;
        public string Login { get; } = login;
        public HttpClient Http { get; private set; } = http;
        public WsClient? Socket { get; private set; }

        public WsClient Ws => Socket ?? throw new InvalidOperationException($"{Name} has no socket.");

        /// <summary>Opens a socket and waits until the server has counted it (the agent's own presence push).</summary>
        public async Task ConnectAsync()
        {
            var before = await scene.PresenceAsync(Id);
            Socket = await scene.SocketAsync(StoreLinkApp.TokenOf(Http));
            if (before == "offline")
                await Socket.NextAsync(f => IsType(f, "presence") && f.GetProperty("user_id").GetString() == Id);
        }

        /// <summary>Closes the socket and waits until the server counts the agent as offline.</summary>
        public async Task DisconnectAsync()
        {
            await Ws.DisposeAsync();
            Socket = null;
            using var deadline = new CancellationTokenSource(WsClient.Timeout);
            while (await scene.PresenceAsync(Id) != "offline")
                await Task.Delay(50, deadline.Token);
        }

        /// <summary>Signs in again (a staff token lasts 12 hours of the server's clock, which tests move).</summary>
        public async Task SignInAgainAsync() => Http = await scene.App.LoginAsync(Login, Password);

        public async Task SetStatusAsync(string status)
        {
            var answer = await Ws.RequestAsync(new { type = "presence", status });
            Assert.Equal((status, "ok"), (answer.GetProperty("status").GetString(), answer.GetProperty("type").GetString()));
        }

        public Task<ApiResponse> SendAsync(string conversationId, string text) =>
            Http.PostJsonAsync($"/v1/conversations/{conversationId}/messages", new { client_msg_id = Guid.NewGuid().ToString("N"), kind = "text", body = new { text } });
    }

    /// <summary>A customer with one open conversation of the store and a socket.</summary>
    public sealed class Customer(HttpClient http, string conversationId, WsClient socket)
    {
        public HttpClient Http { get; } = http;
        public string ConversationId { get; } = conversationId;
        public WsClient Ws { get; } = socket;

        /// <summary>Sends over REST; the answer comes once the message is stored and routed.</summary>
        public async Task<ApiResponse> SendAsync(string text)
        {
            var sent = await Http.PostJsonAsync($"/v1/conversations/{ConversationId}/messages", new { client_msg_id = Guid.NewGuid().ToString("N"), kind = "text", body = new { text } });
            Assert.True(sent.Status is 200 or 201, sent.ToString());
            return sent;
        }

        /// <summary>The next <c>queue_position</c> push that puts this conversation at <paramref name="position"/>.</summary>
        public Task<JsonElement> PositionAsync(long position) =>
            Ws.NextAsync(f => IsType(f, "queue_position") && f.GetProperty("conversation_id").GetString() == ConversationId
                && f.GetProperty("position").GetInt64() == position);

        /// <summary>The next push that tells this customer their conversation was given to someone: its assignee.</summary>
        public async Task<string> AssignedAsync()
        {
            var frame = await Ws.NextAsync(f => IsType(f, "conversation") && f.GetProperty("conversation").GetProperty("id").GetString() == ConversationId
                && f.GetProperty("conversation").TryGetProperty("assignee_id", out var a) && a.ValueKind == JsonValueKind.String);
            return frame.GetProperty("conversation").GetProperty("assignee_id").GetString()!;
        }

        public async Task<List<JsonElement>> MessagesAsync() =>
            (await Http.GetJsonAsync($"/v1/conversations/{ConversationId}/messages?after_seq=0&limit=200")).Json.EnumerateArray().ToList();
    }
}
