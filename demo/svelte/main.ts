// The elements are defined before the app mounts, so Svelte sets `room`, `url`… as
// properties of upgraded elements from the first render.
import '../../components/index.js';
import { mount } from 'svelte';
import { demoIdentity } from '../identity.js';
import App from './App.svelte';

mount(App, {
  target: document.getElementById('app')!,
  props: {
    me: demoIdentity(new URLSearchParams(location.search)),
    // same origin as the page: the demo server attaches the presence server at /presence
    url: `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/presence`,
  },
});
