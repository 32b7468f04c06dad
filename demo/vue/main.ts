// The elements are defined before the app mounts, so Vue sets `room`, `url`… as
// properties of upgraded elements from the first render.
import '../../components/index.js';
import { createApp } from 'vue';
import { demoIdentity } from '../identity.js';
import App from './App.vue';

createApp(App, {
  me: demoIdentity(new URLSearchParams(location.search)),
  // same origin as the page: the demo server attaches the presence server at /presence
  url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/presence`,
}).mount('#app');
